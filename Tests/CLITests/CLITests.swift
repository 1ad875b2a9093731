import Foundation
import Testing

/// Runs the built `elixir-coder` binary, as a user would.
enum CLI {
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The binary next to the test bundle (same build), else the release build.
    static let binary = built("elixir-coder")
    /// The benchmarks' own executable.
    static let benchBinary = built("elixir-coder-bench")

    static func built(_ name: String) -> String {
        let beside = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent(name).path
        if FileManager.default.isExecutableFile(atPath: beside) { return beside }
        return repo.appendingPathComponent(".build/release/\(name)").path
    }

    struct Result {
        let status: Int32
        let stdout: String
        let stderr: String
    }

    /// Runs `elixir-coder ARGS`; `bench ...` runs `elixir-coder-bench ...`.
    static func run(_ args: [String], stdin: String? = nil, environment: [String: String] = [:]) throws -> Result {
        let p = Process()
        let bench = args.first == "bench"
        p.executableURL = URL(fileURLWithPath: bench ? benchBinary : binary)
        p.arguments = bench ? Array(args.dropFirst()) : args
        var env = ProcessInfo.processInfo.environment
        // Logs and state of test runs stay out of the user's own state directory.
        env["ELIXIR_CODER_HOME"] = sharedHome.path
        for (k, v) in environment { env[k] = v }
        p.environment = env
        let out = Pipe(), err = Pipe(), inp = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = inp
        try p.run()
        if let stdin { inp.fileHandleForWriting.write(Data(stdin.utf8)) }
        try inp.fileHandleForWriting.close()
        // Read both pipes concurrently so a full stderr cannot block the child.
        nonisolated(unsafe) var errData = Data()
        let group = DispatchGroup()
        DispatchQueue.global().async(group: group) { errData = err.fileHandleForReading.readDataToEndOfFile() }
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        p.waitUntilExit()
        return Result(status: p.terminationStatus, stdout: String(decoding: outData, as: UTF8.self), stderr: String(decoding: errData, as: UTF8.self))
    }
}

extension CLI {
    /// The ELIXIR_CODER_HOME of commands run without their own.
    static let sharedHome: URL = try! temporaryHome()

    /// A fresh ELIXIR_CODER_HOME whose models folder is the real model cache.
    static func temporaryHome() throws -> URL {
        let home = FileManager.default.temporaryDirectory.appendingPathComponent("ec-home-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
        let env = ProcessInfo.processInfo.environment
        let models = env["ELIXIR_CODER_HOME"].map { $0 + "/models" } ?? NSHomeDirectory() + "/.cache/elixir-coder/models"
        try FileManager.default.createSymbolicLink(atPath: home.appendingPathComponent("models").path, withDestinationPath: models)
        // The CWE catalogue set-up fetched, for the retrieval index.
        try FileManager.default.createSymbolicLink(atPath: home.appendingPathComponent("data").path,
                                                   withDestinationPath: (models as NSString).deletingLastPathComponent + "/data")
        return home
    }

    static func run(_ args: [String], home: URL) throws -> Result {
        try run(args, environment: ["ELIXIR_CODER_HOME": home.path, "ELIXIR_CODER_CONFIG": home.appendingPathComponent("config.json").path])
    }
}

@Suite("elixir-coder command line", .serialized)
struct CLITests {
    static let commands: [[String]] = [[], ["complete"], ["tokenize"], ["models"], ["models", "pull"], ["models", "list"], ["bench"], ["bench", "engine"], ["bench", "serve"], ["bench", "checks"], ["bench", "monitor"], ["check"], ["generate"], ["batch"], ["serve"], ["stats"], ["bench", "log"], ["explain"], ["index"], ["index", "build"], ["index", "search"], ["bench", "explain"], ["clarify"], ["bench", "clarify"], ["grammar"], ["grammar", "check"], ["grammar", "export"], ["grammar", "compile"], ["bench", "grammar"], ["bench", "quality"]]

    @Test("--help works on every command", arguments: commands)
    func help(_ command: [String]) throws {
        let r = try CLI.run(command + ["--help"])
        #expect(r.status == 0)
        #expect(r.stdout.contains("USAGE: elixir-coder"))
    }

    @Test("tokenize --json gives llama.cpp's ids")
    func tokenizeJSON() throws {
        let r = try CLI.run(["tokenize", "--json", "defmodule Math do\n  def add(a, b) do"])
        #expect(r.status == 0)
        let tokens = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [[String: Any]]
        #expect(tokens.map { $0["id"] as! Int } == [1604, 10706, 8948, 536, 3805, 753, 803, 24, 81, 28, 278, 25, 536])
        #expect(tokens[2]["piece"] as? String == " Math")
    }

    @Test("- reads standard input byte for byte, trailing whitespace included")
    func stdinVerbatim() throws {
        let a = try CLI.run(["tokenize", "--json", "-"], stdin: "x = 1  \n\n")
        let b = try CLI.run(["tokenize", "--json", "x = 1  \n\n"])
        #expect(a.status == 0)
        #expect(a.stdout == b.stdout)
        #expect(a.stdout.contains("\\n\\n"))
    }

    @Test("complete --json with greedy exact kernels continues like llama.cpp")
    func completeJSON() throws {
        let r = try CLI.run(["complete", "--json", "--temperature", "0", "--kernels", "exact", "--max-tokens", "8", "--top-logprobs", "2", "-"],
                            stdin: "defmodule Math do\n  def add(a, b) do")
        #expect(r.status == 0, "\(r.stderr)")
        let obj = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
        let tokens = obj["tokens"] as! [[String: Any]]
        #expect(tokens.map { $0["id"] as! Int } == [472, 1003, 253, 1232, 278, 3805, 1112, 198])
        #expect(obj["text"] as? String == "\n    return a + b\n  end\n")
        #expect((tokens[0]["top_logprobs"] as! [[String: Any]]).count == 2)
        #expect(obj["finish_reason"] as? String == "length")
        #expect(r.stderr.contains("tok/s"), "progress and summary go to stderr")
    }

    @Test("complete streams text to stdout and honours --stop")
    func completeStream() throws {
        let r = try CLI.run(["complete", "--temperature", "0", "--max-tokens", "20", "--stop", "end", "defmodule Math do\n  def add(a, b) do"])
        #expect(r.status == 0)
        #expect(r.stdout.hasPrefix("\n    return a + b"))
        #expect(!r.stdout.contains("end"))
    }

    @Test("commands that need a model say how to fetch it")
    func missingModel() throws {
        let empty = FileManager.default.temporaryDirectory.appendingPathComponent("ec-empty-\(UUID().uuidString)").path
        let r = try CLI.run(["complete", "hello"], environment: ["ELIXIR_CODER_HOME": empty])
        #expect(r.status != 0)
        #expect(r.stderr.contains("elixir-coder models pull"))
        let l = try CLI.run(["models", "list"], environment: ["ELIXIR_CODER_HOME": empty])
        #expect(l.stderr.contains("elixir-coder models pull"))
    }

    @Test("a bad model file gets a precise error, not a crash")
    func badModelFile() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("ec-bad-\(UUID().uuidString).gguf").path
        try Data("not a model at all".utf8).write(to: URL(fileURLWithPath: path))
        let r = try CLI.run(["complete", "--model", path, "hello"])
        #expect(r.status == 1)
        #expect(r.stderr.contains("not a GGUF file"))
        #expect(r.stderr.contains(path))
    }

    @Test("models list shows the installed default model as verified")
    func modelsList() throws {
        let r = try CLI.run(["models", "list", "--json"])
        #expect(r.status == 0)
        let models = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [[String: Any]]
        let smol = try #require(models.first { $0["name"] as? String == "smollm2-135m-instruct" })
        #expect(smol["verified"] as? Bool == true)
        #expect(smol["bytes"] as? Int == 98_362_432)
    }

    @Test("invalid flag values are rejected with a message")
    func invalidFlags() throws {
        let r = try CLI.run(["complete", "--top-p", "3", "x"])
        #expect(r.status != 0)
        #expect(r.stderr.contains("--top-p"))
    }
}

@Suite("elixir-coder check", .serialized)
struct CheckCLITests {
    static let snippets = CLI.repo.appendingPathComponent("Tests/Fixtures/elixir-tools/snippets")

    @Test("findings print like a compiler and exit 1; clean code exits 0; an unreadable file exits 2")
    func exitCodes() throws {
        let r = try CLI.run(["check", Self.snippets.appendingPathComponent("b01_string_to_atom.ex").path])
        #expect(r.status == 1)
        #expect(r.stdout.contains("b01_string_to_atom.ex:5:12: warning DOS.StringToAtom (built-in): Unsafe `String.to_atom`"))
        let clean = try CLI.run(["check", "-"], stdin: "defmodule Clean do\n  @moduledoc \"Clean.\"\n  def f(x), do: x\nend\n")
        #expect(clean.status == 0, "\(clean.stdout)")
        let missing = try CLI.run(["check", "/nonexistent/file.ex"])
        #expect(missing.status == 2)
        #expect(missing.stderr.contains("cannot read"))
    }

    @Test("a file that is not UTF-8 is a syntax finding at the first bad byte, as elixirc rejects it, not checked with replacement characters")
    func invalidUTF8() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ec-utf8-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let file = dir.appendingPathComponent("bad.ex")
        try (Data("defmodule A do\n  def f, do: \"é".utf8) + Data([0xff, 0xfe]) + Data("\"\nend\n".utf8)).write(to: file)
        let r = try CLI.run(["check", file.path])
        #expect(r.status == 1)
        #expect(r.stdout.contains("bad.ex:2:16: error SyntaxError.InvalidUTF8: byte 31 (0xff) is not UTF-8"), "\(r.stdout)")
        let json = try CLI.run(["check", "--json", file.path])
        #expect(json.status == 1 && json.stdout.contains("\"check\":\"SyntaxError.InvalidUTF8\""))
    }

    @Test("--json prints an array of findings; --only filters by source")
    func jsonAndOnly() throws {
        let file = Self.snippets.appendingPathComponent("c08_map_join.ex").path
        let r = try CLI.run(["check", "--json", file])
        let findings = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [[String: Any]]
        #expect(findings.map { $0["check"] as! String } == ["Credo.Check.Refactor.MapJoin", "Credo.Check.Refactor.MapJoin"])
        #expect(findings.allSatisfy { $0["builtin"] as? Bool == true })
        let only = try CLI.run(["check", "--only", "sobelow", file])
        #expect(only.status == 0)
        let broken = try CLI.run(["check", "--only", "syntax", Self.snippets.appendingPathComponent("s02_unexpected_token.ex").path])
        #expect(broken.status == 1)
        #expect(broken.stdout.contains(":5:21: error SyntaxError"))
        #expect(try CLI.run(["check", "--only", "lint", file]).status == 2)
    }
}

/// Settings reach `generate` from the config file and the environment, flags winning.
@Suite("generate settings", .serialized)
struct GenerateSettingsTests {
    static func candidates(_ extra: [String], environment: [String: String] = [:]) throws -> [String] {
        // Without the grammar, which closes programs early under a small budget.
        let r = try CLI.run(["generate", "Reverse a list.", "--candidates", "2", "--max-attempts", "1", "--no-gate", "--no-grammar", "--log-level", "off", "--no-inference-log", "--json"] + extra,
                            environment: environment)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], "\(r.stderr)")
        let attempts = try #require(json["attempts"] as? [[String: Any]])
        return (attempts[0]["candidates"] as? [[String: Any]] ?? []).map { "\($0["tokens"] ?? "")" }.sorted()
    }

    @Test("the environment's maxTokens and temperature reach generate; a flag overrides them")
    func precedence() throws {
        // ELIXIR_CODER_MAX_TOKENS=8 caps every candidate at eight tokens; --max-tokens 48 on top lifts it.
        let capped = try Self.candidates([], environment: ["ELIXIR_CODER_MAX_TOKENS": "8"])
        #expect(capped.allSatisfy { (Int($0) ?? 99) <= 8 }, "\(capped)")
        let flag = try Self.candidates(["--max-tokens", "48"], environment: ["ELIXIR_CODER_MAX_TOKENS": "8"])
        #expect(flag.contains { (Int($0) ?? 0) > 8 }, "\(flag)")
        // Greedy from the environment: two seeds give the same candidates.
        let a = try Self.candidates(["--seed", "1", "--max-tokens", "24"], environment: ["ELIXIR_CODER_TEMPERATURE": "0"])
        let b = try Self.candidates(["--seed", "2", "--max-tokens", "24"], environment: ["ELIXIR_CODER_TEMPERATURE": "0"])
        #expect(a == b)
    }
}
