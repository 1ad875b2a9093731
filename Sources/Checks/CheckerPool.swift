import Foundation
import Logging

/// Something that finds problems in Elixir code: the seam where the built-in
/// rules, real Credo and real Sobelow plug in.
public protocol Checker: Sendable {
    func findings(in code: String) async throws -> [Finding]
}

/// A small pool of persistent Elixir checker processes: syntax, format, AST facts
/// and the built-in rules, with a size limit, a per-request timeout and restarts.
/// Concurrent requests go to different processes instead of queueing.
public final class CheckerPool: Checker, @unchecked Sendable {
    public let size: Int
    public let maxBytes: Int
    private let processes: [CheckerProcess]
    private let lock = NSLock()
    private var busy: [Int]
    private let logger: Logger

    /// - Parameters:
    ///   - scriptPath: the checker script (default: the one shipped in this package).
    ///   - timeout: seconds one request may take before its process is killed.
    public convenience init(size: Int = 2, scriptPath: String? = nil, timeout: Double = 10, maxBytes: Int = 1 << 20,
                            logger: Logger = Logger(label: "elixir-coder.checks")) throws {
        try self.init(size: size, script: scriptPath ?? Self.resource("checker"), timeout: timeout, maxBytes: maxBytes, logger: logger)
    }

    /// A pool of processes running `script` under `launcher`.
    init(size: Int, script: String, timeout: Double, maxBytes: Int, launcher: [String] = ["/usr/bin/env"], taggedAnswers: Bool = false,
         logger: Logger) throws {
        self.size = max(1, size)
        self.maxBytes = maxBytes
        self.logger = logger
        processes = (0..<max(1, size)).map {
            CheckerProcess(script: script, timeout: timeout, label: "elixir-coder.\(logger.label).\($0)", launcher: launcher, taggedAnswers: taggedAnswers)
        }
        busy = Array(repeating: 0, count: max(1, size))
    }

    /// The path of one of the package's Elixir scripts.
    static func resource(_ name: String) throws -> String {
        guard let path = Bundle.module.path(forResource: name, ofType: "exs", inDirectory: "Resources") ?? Bundle.module.path(forResource: name, ofType: "exs") else {
            throw CheckerError(.unavailable, "\(name).exs is missing from the package resources")
        }
        return path
    }

    /// Boots every process in the background. Without it, the first time two requests
    /// overlap, one waits for a second Elixir to start, and a decoding batch whose monitor
    /// is waiting stalls with it (0.9 s at the start of the concurrent serving bench).
    public func warmUp() {
        processes.forEach { $0.warmUp() }
    }

    /// Elixir processes started so far, restarts included (waits for starts under way).
    public var processStarts: Int {
        processes.reduce(0) { total, p in total + p.queue.sync { p.starts } }
    }

    /// Parser verdict only.
    public func syntax(_ code: String) async throws -> SyntaxResult {
        try await report(.syntax, code).syntax
    }

    /// Whether the formatter would change the code.
    public func format(_ code: String) async throws -> FormatResult {
        guard let f = try await report(.format, code).format else { throw CheckerError(.badResponse, "the checker returned no format result") }
        return f
    }

    /// Whether a prefix can still become a program, blocking the calling thread (decode loops
    /// run on their own thread). Open blocks are closed before parsing, because Elixir reports
    /// an open block before any error inside it.
    public func viabilityBlocking(_ code: String) throws -> SyntaxResult {
        try blocking(.viable, code)
    }

    /// Parser verdict, blocking the calling thread.
    public func syntaxBlocking(_ code: String) throws -> SyntaxResult {
        try blocking(.syntax, code)
    }

    /// The built-in rules on a prefix (closed first), blocking the calling thread: for monitors
    /// that stop a line as soon as it trips a rule.
    public func prefixFindingsBlocking(_ code: String) throws -> [Finding] {
        guard code.utf8.count <= maxBytes else { throw CheckerError(.tooLarge, "the code is \(code.utf8.count) bytes; the checker takes at most \(maxBytes)") }
        let index = acquire()
        defer { release(index) }
        let process = processes[index]
        let data = try process.queue.sync { try process.request(.prefixrules, code: code, argument: SourceKind.code.rawValue) }
        return (try JSONDecoder().decode(CheckReport.self, from: data)).findings ?? []
    }

    private func blocking(_ command: CheckerCommand, _ code: String) throws -> SyntaxResult {
        guard code.utf8.count <= maxBytes else { throw CheckerError(.tooLarge, "the code is \(code.utf8.count) bytes; the checker takes at most \(maxBytes)") }
        let index = acquire()
        defer { release(index) }
        let process = processes[index]
        let data = try process.queue.sync { try process.request(command, code: code, argument: SourceKind.code.rawValue) }
        struct Wire: Decodable { let syntax: SyntaxResult? }
        guard let r = try? JSONDecoder().decode(Wire.self, from: data).syntax else {
            throw CheckerError(.badResponse, "the checker answered something unreadable")
        }
        return r
    }

    /// Closes a program cut off with constructs open (appending the terminators the parser
    /// names, dropping a last line cut mid-expression); nil when it cannot be closed.
    public func close(_ code: String) async throws -> String? {
        let data = try await raw(.close, code, argument: SourceKind.code.rawValue)
        struct Wire: Decodable { let closed: String? }
        return try JSONDecoder().decode(Wire.self, from: data).closed
    }

    /// Structural facts; nil when the code does not parse.
    public func facts(_ code: String) async throws -> ASTFacts? {
        try await report(.facts, code).facts
    }

    /// One request's raw answer, from the least busy process.
    func raw(_ command: CheckerCommand, _ code: String, argument: String) async throws -> Data {
        guard code.utf8.count <= maxBytes else {
            throw CheckerError(.tooLarge, "the code is \(code.utf8.count) bytes; the checker takes at most \(maxBytes) bytes")
        }
        let index = acquire()
        defer { release(index) }
        let process = processes[index]
        return try await withCheckedThrowingContinuation { cont in
            process.queue.async { cont.resume(with: Result { try process.request(command, code: code, argument: argument) }) }
        }
    }

    /// Syntax, format, facts and built-in findings in one round trip.
    /// - Parameter kind: `code`, or `config` for config files (enables the hard-coded secrets rule).
    public func report(_ command: CheckerCommand = .all, _ code: String, kind: SourceKind = .code) async throws -> CheckReport {
        try await report(command, code, options: CheckOptions(kind: kind))
    }

    /// One round trip with the file's options: Credo's strictness and the user's `.credo.exs` and `.sobelow-conf`.
    public func report(_ command: CheckerCommand = .all, _ code: String, options: CheckOptions) async throws -> CheckReport {
        let data = try await raw(command, code, argument: options.argument)
        struct Wire: Decodable {
            let syntax: SyntaxResult?
            let format: FormatResult?
            let facts: ASTFacts?
            let findings: [Finding]?
            let notes: [String]?
            let error: String?
        }
        let wire: Wire
        do { wire = try JSONDecoder().decode(Wire.self, from: data) } catch {
            throw CheckerError(.badResponse, "the checker answered something unreadable: \(String(decoding: data.prefix(200), as: UTF8.self))")
        }
        if let e = wire.error { throw CheckerError(.badResponse, e) }
        guard let syntax = wire.syntax else { throw CheckerError(.badResponse, "the checker answered without a syntax result") }
        return CheckReport(syntax: syntax, format: wire.format, facts: wire.facts, findings: wire.findings, notes: wire.notes)
    }

    /// Every finding: a syntax error (alone, since nothing else can run), else the formatter and the built-in rules.
    public func findings(in code: String) async throws -> [Finding] {
        try await findings(in: code, only: nil)
    }

    public func findings(in code: String, only: Set<FindingSource>?, kind: SourceKind = .code) async throws -> [Finding] {
        try await findings(in: code, only: only, options: CheckOptions(kind: kind))
    }

    /// Every finding under `options` (strictness, the user's tool configuration).
    public func findings(in code: String, only: Set<FindingSource>?, options: CheckOptions) async throws -> [Finding] {
        try await checked(code, only: only, options: options).findings
    }

    /// The findings and the notes on what the user's configuration could not say.
    public func checked(_ code: String, only: Set<FindingSource>?, options: CheckOptions) async throws -> (findings: [Finding], notes: [String]) {
        let r = try await report(.all, code, options: options)
        var out: [Finding] = []
        if r.syntax.status != .ok {
            out.append(Finding(source: .syntax, check: r.syntax.status == .incomplete ? "SyntaxError.Incomplete" : "SyntaxError",
                               category: "syntax", line: r.syntax.line ?? 1, column: r.syntax.column, message: r.syntax.displayMessage, builtin: false))
        }
        if let f = r.format, f.changed, r.syntax.status == .ok {
            out.append(Finding(source: .format, check: "Formatter", category: "format", line: 1, message: "the code is not formatted as `mix format` would format it", builtin: false))
        }
        out += r.findings ?? []
        if let only { out = out.filter { only.contains($0.source) || ($0.builtin && only.contains(.builtin)) } }
        return (out, r.notes ?? [])
    }

    /// Kills one process (fault drills).
    public func killProcess(_ index: Int = 0) {
        let p = processes[index]
        p.queue.sync { p.terminate() }
    }

    private func acquire() -> Int {
        lock.lock()
        defer { lock.unlock() }
        let i = busy.indices.min { busy[$0] < busy[$1] }!
        busy[i] += 1
        return i
    }

    private func release(_ i: Int) {
        lock.lock()
        busy[i] -= 1
        lock.unlock()
    }
}
