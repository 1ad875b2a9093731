import ElixirCoderCore
import Foundation
import Testing

@Suite("Core")
struct CoreTests {
    @Test("task hashes are keyed with the installation's secret (HMAC-SHA256, RFC 4231), made once and kept private")
    func taskHash() throws {
        #expect(SHA256.taskHash("what do ya want for nothing?", key: Array("Jefe".utf8)) == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        #expect(SHA256.taskHash("abc", key: []) == SHA256.hex(Array("abc".utf8)), "no key: plain SHA-256")
        let home = FileManager.default.temporaryDirectory.appendingPathComponent("ec-key-\(UUID().uuidString)")
        let paths = Paths(environment: ["ELIXIR_CODER_HOME": home.path, "HOME": home.path])
        let key = paths.taskHashKey()
        #expect(key.count == 32 && paths.taskHashKey() == key, "made once, then read back")
        let mode = try FileManager.default.attributesOfItem(atPath: paths.taskHashKeyFile.path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        #expect(SHA256.taskHash("Sum a list.", key: key) != SHA256.hex(Array("Sum a list.".utf8)))
    }

    @Test("SHA-256 matches the FIPS test vectors and sha256sum", arguments: [
        ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        ("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
    ])
    func sha256(input: String, expected: String) {
        #expect(SHA256.hex(Array(input.utf8)) == expected)
    }

    @Test("SHA-256 streamed in uneven chunks equals one shot")
    func sha256Streaming() {
        let data = (0..<10_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        var s = SHA256()
        var i = 0
        for size in [1, 63, 64, 65, 127, 1000, 5000] where i < data.count {
            let end = min(data.count, i + size)
            data[i..<end].withUnsafeBytes { s.update($0) }
            i = end
        }
        data[i...].withUnsafeBytes { s.update($0) }
        #expect(s.finalize().map { String(format: "%02x", $0) }.joined() == SHA256.hex(data))
    }

    @Test("environment overrides the config file; the file overrides defaults")
    func precedence() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ec-config-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let file = dir.appendingPathComponent("config.json")
        try Data(#"{"model": "/models/a.gguf", "threads": 3, "temperature": 0.5, "grammar": "off", "drafts": false}"#.utf8).write(to: file)
        let paths = Paths(environment: ["HOME": dir.path, "ELIXIR_CODER_CONFIG": file.path])
        let fromFile = try Configuration.load(paths: paths, environment: [:])
        #expect(fromFile.model == "/models/a.gguf")
        #expect(fromFile.threads == 3)
        #expect(fromFile.grammar == "off")
        #expect(fromFile.drafts == false)
        #expect(try Configuration.load(paths: paths, environment: ["ELIXIR_CODER_DRAFTS": "on"]).drafts == true)
        #expect(try Configuration.load(paths: paths, environment: ["ELIXIR_CODER_GRAMMAR": "mine.ebnf"]).grammar == "mine.ebnf")
        let fromEnv = try Configuration.load(paths: paths, environment: ["ELIXIR_CODER_THREADS": "1", "ELIXIR_CODER_MODEL": "x.gguf"])
        #expect(fromEnv.threads == 1)
        #expect(fromEnv.model == "x.gguf")
        #expect(fromEnv.temperature == 0.5)
        #expect(throws: ConfigurationError.self) { try Configuration.load(paths: paths, environment: ["ELIXIR_CODER_THREADS": "many"]) }
        try Data("{not json".utf8).write(to: file)
        #expect(throws: ConfigurationError.self) { try Configuration.load(paths: paths, environment: [:]) }
    }

    @Test("ELIXIR_CODER_HOME moves the cache and state")
    func homeOverride() {
        let p = Paths(environment: ["HOME": "/home/u", "ELIXIR_CODER_HOME": "/tmp/ec"])
        #expect(p.models.path == "/tmp/ec/models")
        #expect(p.state.path == "/tmp/ec/state")
        let d = Paths(environment: ["HOME": "/home/u"])
        #expect(d.models.path == "/home/u/.cache/elixir-coder/models")
        #expect(d.state.path == "/home/u/.local/state/elixir-coder")
    }

    @Test("resolving a missing default model names the command that fetches it")
    func resolveMissing() {
        let store = ModelStore(paths: Paths(environment: ["HOME": "/nonexistent", "ELIXIR_CODER_HOME": "/nonexistent/ec"]))
        #expect { try store.resolve(nil) } throws: { "\($0)".contains("elixir-coder models pull") }
        #expect { try store.resolve("no-such-model") } throws: { "\($0)".contains("unknown model") }
    }
}

@Suite("data folders")
struct DataFolderTests {
    @Test("templates, grammars and rag-index are found one way: the variable, above the executable (or its share/elixir-coder), then the checkout")
    func search() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("ec-data-\(UUID().uuidString)")
        let bin = root.appendingPathComponent("prefix/bin")
        try FileManager.default.createDirectory(at: bin, withIntermediateDirectories: true)
        let tool = bin.appendingPathComponent("elixir-coder")
        let checkout = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        for folder in DataFolder.allCases {
            // Nothing near the executable: the checkout's copy.
            #expect(folder.locate(environment: [:], executable: tool)?.standardizedFileURL == checkout.appendingPathComponent(folder.rawValue).standardizedFileURL)
            // An install's share/elixir-coder beside bin/ comes first.
            let installed = root.appendingPathComponent("prefix/share/elixir-coder/\(folder.rawValue)")
            let marker = ["templates": "system.mustache", "grammars": "elixir.ebnf", "rag-index": "credo"][folder.rawValue]!
            try FileManager.default.createDirectory(at: installed.appendingPathComponent(marker).deletingLastPathComponent(), withIntermediateDirectories: true)
            FileManager.default.createFile(atPath: installed.appendingPathComponent(marker).path, contents: Data())
            #expect(folder.locate(environment: [:], executable: tool)?.standardizedFileURL.path == installed.standardizedFileURL.path)
            // The environment variable wins over both.
            #expect(folder.locate(environment: [folder.environmentVariable: "/elsewhere"], executable: tool)?.path == "/elsewhere")
        }
        #expect(DataFolder.ragIndex.missingMessage.contains("ELIXIR_CODER_RAG_INDEX"))
    }
}
