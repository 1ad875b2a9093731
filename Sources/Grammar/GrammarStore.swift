import ElixirCoderCore
import Foundation

/// Finds grammar files and keeps compiled automata on disk, keyed by grammar and vocabulary hashes.
public struct GrammarStore: Sendable {
    public let cacheDirectory: URL

    public init(paths: Paths = Paths()) {
        cacheDirectory = paths.cache.appendingPathComponent("grammars")
    }

    public init(cacheDirectory: URL) {
        self.cacheDirectory = cacheDirectory
    }

    /// The text of a named grammar (`elixir`) or a grammar file path.
    /// A name is looked up in the grammars folder (see `DataFolder`).
    public static func text(named name: String) throws -> String {
        if name.contains("/") || name.hasSuffix(".ebnf") {
            guard let t = try? String(contentsOfFile: name, encoding: .utf8) else { throw GrammarError(.io, "cannot read grammar file \(name)") }
            return t
        }
        guard let dir = DataFolder.grammars.locate() else { throw GrammarError(.io, DataFolder.grammars.missingMessage) }
        guard let t = try? String(contentsOf: dir.appendingPathComponent("\(name).ebnf"), encoding: .utf8) else {
            throw GrammarError(.io, "no grammar named '\(name)' (no \(name).ebnf in \(dir.path))")
        }
        return t
    }

    /// SHA-256 over every token's bytes, so a cache entry never outlives its vocabulary.
    public static func vocabularyHash(_ tokenBytes: [[UInt8]]) -> String {
        var sha = SHA256()
        for b in tokenBytes {
            var n = UInt32(b.count).littleEndian
            withUnsafeBytes(of: &n) { sha.update($0) }
            sha.update(b)
        }
        return SHA256.hex(sha.finalize())
    }

    /// Where the masks built for a grammar and vocabulary are kept between processes.
    public func maskFile(text: String, vocabularyHash: String) -> URL {
        cacheDirectory.appendingPathComponent("\(Self.key(text: text, vocabularyHash: vocabularyHash)).masks")
    }

    static func key(text: String, vocabularyHash: String) -> String {
        // The compiler's revision too: automata and masks built by an older one must not be reused.
        var sha = SHA256()
        sha.update(CompiledGrammar.magic)
        sha.update(Array(text.utf8))
        return SHA256.hex(sha.finalize()).prefix(16) + "-" + vocabularyHash.prefix(16)
    }

    /// Whether the compiled form came from disk.
    public enum Source: String, Sendable { case compiled, cached }

    /// Compiles `text`, or reads the cached automata for it.
    /// - Returns: the grammar, where it came from and the seconds it took.
    public func load(text: String, vocabularyHash: String) throws -> (grammar: CompiledGrammar, source: Source, seconds: Double) {
        let start = Date()
        let file = cacheDirectory.appendingPathComponent("\(Self.key(text: text, vocabularyHash: vocabularyHash)).automata")
        if let data = try? Data(contentsOf: file), let g = try? CompiledGrammar(serialized: data) {
            return (g, .cached, Date().timeIntervalSince(start))
        }
        let g = try GrammarCompiler.compile(text)
        try? FileManager.default.createDirectory(at: cacheDirectory, withIntermediateDirectories: true)
        // Write to a temporary name first so a concurrent reader never sees half a file.
        let tmp = file.appendingPathExtension("tmp\(ProcessInfo.processInfo.processIdentifier)")
        if (try? g.serialized().write(to: tmp)) != nil {
            _ = try? FileManager.default.replaceItemAt(file, withItemAt: tmp)
            if !FileManager.default.fileExists(atPath: file.path) { try? FileManager.default.moveItem(at: tmp, to: file) }
        }
        return (g, .compiled, Date().timeIntervalSince(start))
    }
}

extension CompiledGrammar {
    /// Changes whenever the compiler would build different automata from the same text.
    static let magic: [UInt8] = Array("ECGRAM04".utf8)

    /// A compact binary form: a magic tag, then counts, strings and raw little-endian arrays.
    public func serialized() -> Data {
        var d = Data(Self.magic)
        func int(_ v: Int) { var x = Int64(v).littleEndian; withUnsafeBytes(of: &x) { d.append(contentsOf: $0) } }
        func bytes(_ b: [UInt8]) { int(b.count); d.append(contentsOf: b) }
        func str(_ s: String) { bytes(Array(s.utf8)) }
        func i32(_ a: [Int32]) { int(a.count); a.withUnsafeBytes { d.append(contentsOf: $0) } }
        func i16(_ a: [Int16]) { int(a.count); a.withUnsafeBytes { d.append(contentsOf: $0) } }
        func u64(_ a: [UInt64]) { int(a.count); a.withUnsafeBytes { d.append(contentsOf: $0) } }
        str(grammarHash)
        int(terminalCount)
        for n in terminalNames { str(n) }
        for s in terminalSamples { bytes(s) }
        int(stateCount)
        i32(actNext); i32(actRet); bytes(stateFlags); i32(lexStart); i32(closeDist); i32(closeNext); i32(stateMachine)
        int(machineNames.count)
        for n in machineNames { str(n) }
        int(Int(startState))
        int(lexStateCount)
        i32(lexTrans); i32(lexAccept); bytes(lexHasOut); i16(lexSuffixNext)
        int(terminalWords)
        u64(lexReach); u64(viableBits)
        return d
    }

    /// Reads `serialized()` output.
    /// - Throws: `GrammarError(.cache)` for anything else.
    public init(serialized d: Data) throws {
        let b = [UInt8](d)
        var i = 0
        let bad = GrammarError(.cache, "the cached grammar automata are corrupt; delete them to rebuild")
        guard b.count >= 8, Array(b[0..<8]) == Self.magic else { throw bad }
        i = 8
        func int() throws -> Int {
            guard i + 8 <= b.count else { throw bad }
            var x: Int64 = 0
            withUnsafeMutableBytes(of: &x) { $0.copyBytes(from: b[i..<i + 8]) }
            i += 8
            return Int(Int64(littleEndian: x))
        }
        func bytes() throws -> [UInt8] {
            let n = try int()
            guard n >= 0, i + n <= b.count else { throw bad }
            defer { i += n }
            return Array(b[i..<i + n])
        }
        func str() throws -> String { String(decoding: try bytes(), as: UTF8.self) }
        func i32() throws -> [Int32] {
            let n = try int()
            guard n >= 0, i + 4 * n <= b.count else { throw bad }
            var a = [Int32](repeating: 0, count: n)
            a.withUnsafeMutableBytes { $0.copyBytes(from: b[i..<i + 4 * n]) }
            i += 4 * n
            return a
        }
        func i16() throws -> [Int16] {
            let n = try int()
            guard n >= 0, i + 2 * n <= b.count else { throw bad }
            var a = [Int16](repeating: 0, count: n)
            a.withUnsafeMutableBytes { $0.copyBytes(from: b[i..<i + 2 * n]) }
            i += 2 * n
            return a
        }
        grammarHash = try str()
        terminalCount = try int()
        terminalNames = try (0..<terminalCount).map { _ in try str() }
        terminalSamples = try (0..<terminalCount).map { _ in try bytes() }
        stateCount = try int()
        actNext = try i32(); actRet = try i32(); stateFlags = try bytes(); lexStart = try i32()
        closeDist = try i32(); closeNext = try i32(); stateMachine = try i32()
        machineNames = try (0..<(try int())).map { _ in try str() }
        startState = Int32(try int())
        lexStateCount = try int()
        lexTrans = try i32(); lexAccept = try i32(); lexHasOut = try bytes(); lexSuffixNext = try i16()
        terminalWords = try int()
        func u64() throws -> [UInt64] {
            let n = try int()
            guard n >= 0, i + 8 * n <= b.count else { throw bad }
            var a = [UInt64](repeating: 0, count: n)
            a.withUnsafeMutableBytes { $0.copyBytes(from: b[i..<i + 8 * n]) }
            i += 8 * n
            return a
        }
        lexReach = try u64(); viableBits = try u64()
        guard actNext.count == stateCount * terminalCount, lexTrans.count == lexStateCount * 256 else { throw bad }
    }
}
