import Foundation
import Logging

/// An example to run against a compiled candidate: an expression and the value it should give.
public struct Example: Sendable, Codable, Equatable, Hashable {
    public var expression: String
    /// Elixir source of the expected value, or `** (SomeError) ...` for an expected exception.
    public var expected: String

    public init(expression: String, expected: String) {
        self.expression = expression
        self.expected = expected
    }
}

/// What one example gave.
public struct ExampleOutcome: Sendable, Codable, Equatable {
    public var expression: String
    public var expected: String
    /// The value as Elixir prints it, `** (Error) message` when it raised, or why it was stopped.
    public var actual: String
    public var passed: Bool
}

/// One error or warning of the Elixir compiler.
public struct CompilerDiagnostic: Sendable, Codable, Equatable {
    /// Whether the module failed to compile, or compiled with a warning.
    public enum Severity: String, Sendable, Codable { case error, warning }
    public var severity: Severity
    /// `Compiler.UnusedVariable`, `Compiler.UndefinedFunction`, ..., `Compiler.Warning` when unclassified.
    public var check: String
    public var line: Int
    public var column: Int?
    public var message: String
}

/// What compiling a candidate showed.
public struct CompileReport: Sendable, Codable, Equatable {
    /// Every module compiled and loaded.
    public var compiled: Bool
    public var diagnostics: [CompilerDiagnostic]
    public var modules: [String]
    /// Public functions as `Module.name/arity`.
    public var functions: [String]
    public var examples: [ExampleOutcome]

    public var warnings: [CompilerDiagnostic] { diagnostics.filter { $0.severity == .warning } }
}

/// How candidate code is kept from the rest of the machine while it compiles and runs.
public enum Sandbox: Sendable, Equatable {
    /// bubblewrap: new user, network, process and IPC namespaces, the file system read-only but
    /// for a private /tmp, running as nobody, killed with its parent.
    case bubblewrap(path: String)

    /// The sandbox this machine offers, or nil when it has none that works.
    public static let available: Sandbox? = {
        for path in ["/usr/bin/bwrap", "/bin/bwrap"] where FileManager.default.isExecutableFile(atPath: path) {
            let probe = Sandbox.bubblewrap(path: path)
            let p = Process()
            p.executableURL = URL(fileURLWithPath: probe.launcher[0])
            p.arguments = Array(probe.launcher.dropFirst()) + ["true"]
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            guard (try? p.run()) != nil else { continue }
            p.waitUntilExit()
            if p.terminationStatus == 0 { return probe }
        }
        return nil
    }()

    /// Address space for the whole sandboxed BEAM; the worker also caps each candidate's heap.
    static let memoryLimitBytes = 3 << 30

    /// The command line that starts a program inside the sandbox.
    var launcher: [String] { launcher(readable: []) }

    /// The same, with `readable` folders visible read-only even where they lie under /tmp (the
    /// worker's script may: a checkout in /tmp), which the sandbox otherwise replaces.
    func launcher(readable: [String], workingDirectory: String = "/tmp") -> [String] {
        switch self {
        case .bubblewrap(let path):
            return ["/usr/bin/prlimit", "--as=\(Self.memoryLimitBytes)", "--core=0", "--", path,
                    "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]
                + readable.flatMap { ["--ro-bind", $0, $0] }
                + ["--unshare-all", "--uid", "65534", "--gid", "65534", "--die-with-parent", "--new-session",
                   "--setenv", "HOME", "/tmp", "--chdir", workingDirectory, "/usr/bin/env"]
        }
    }

    public var name: String {
        switch self {
        case .bubblewrap: return "bubblewrap"
        }
    }
}

/// A long-lived Elixir process, inside the sandbox, that compiles candidates and runs their
/// examples: about a millisecond's work per candidate instead of a cold `elixir` start.
///
/// Compiling runs a module's body, so nothing here runs outside `Sandbox`; the worker removes
/// each candidate's modules and processes afterwards, and a candidate that takes it down (by
/// `System.halt/0`, memory or time) gets an error and the next request starts a fresh worker.
public final class CompileWorker: Sendable {
    public let sandbox: Sandbox
    private let pool: CheckerPool

    /// - Parameter timeout: seconds one request may take before the worker is killed (the worker
    ///   itself stops compiling after 5 s and each example after 2 s).
    public init(size: Int = 1, timeout: Double = 20, sandbox: Sandbox? = Sandbox.available,
                logger: Logger = Logger(label: "compile")) throws {
        guard let sandbox else {
            throw CheckerError(.unavailable, "no sandbox to compile candidates in: install bubblewrap (apt-get install bubblewrap, or make setup)")
        }
        self.sandbox = sandbox
        let script = try CheckerPool.resource("compile_worker")
        let scripts = URL(fileURLWithPath: script).deletingLastPathComponent().path
        pool = try CheckerPool(size: size, script: script, timeout: timeout, maxBytes: 1 << 20,
                               launcher: sandbox.launcher(readable: [scripts]), taggedAnswers: true, logger: logger)
    }

    /// Starts the worker in the background so the first candidate does not wait for Elixir to boot.
    public func warmUp() { pool.warmUp() }

    /// Workers started so far, restarts included.
    public var processStarts: Int { pool.processStarts }

    /// Compiles `code` and, when it compiles, evaluates `examples` against it.
    public func compile(_ code: String, examples: [Example] = []) async throws -> CompileReport {
        let pairs = examples.map { Data($0.expression.utf8).base64EncodedString() + ":" + Data($0.expected.utf8).base64EncodedString() }
        let data: Data
        do {
            do {
                data = try await pool.raw(.compile, code, argument: pairs.joined(separator: ","))
            } catch let error as CheckerError where error.code == .crashed {
                // The worker may have died after its last answer (an earlier candidate's memory):
                // a fresh one gets the candidate once more before the candidate is blamed.
                data = try await pool.raw(.compile, code, argument: pairs.joined(separator: ","))
            }
        } catch let error as CheckerError where error.code == .crashed || error.code == .timedOut {
            // The candidate took the worker down: that is a finding about the candidate.
            let why = error.code == .timedOut ? "compiling and running it took too long" : "the compile worker stopped while compiling it (System.halt or a crash in the module body?)"
            return CompileReport(compiled: false, diagnostics: [CompilerDiagnostic(severity: .error, check: "Compiler.Error", line: 1, message: why)],
                                 modules: [], functions: [], examples: [])
        }
        return try Self.decode(CompileReport.self, from: data, answerer: "the compile worker")
    }

    private struct Failure: Decodable { let error: String }

    /// The worker's answer as `T`; its `{"error": ...}` answer, or anything unreadable, as a `CheckerError`.
    static func decode<T: Decodable>(_ type: T.Type, from data: Data, answerer: String) throws -> T {
        if let failure = try? JSONDecoder().decode(Failure.self, from: data) { throw CheckerError(.badResponse, failure.error) }
        do {
            return try JSONDecoder().decode(T.self, from: data)
        } catch {
            throw CheckerError(.badResponse, "\(answerer) answered something unreadable: \(String(decoding: data.prefix(200), as: UTF8.self))")
        }
    }
}

/// What the example-guided synthesizer is asked for: a function that gives the examples' values.
public struct SynthesisRequest: Sendable, Equatable {
    /// The function the examples call.
    public var function: String
    /// Parameter names; nil lets the synthesizer name them from the examples' values.
    public var parameters: [String]?
    public var examples: [Example]
    /// The task's words: programs whose functions share a stem with them rank higher.
    public var words: [String]
    /// Elixir literals from the task's prose (`36`, `"-"`), usable as constants.
    public var constants: [String]
    /// The search's work, in seconds on a quiet 2-core machine: a budget of work rather than time,
    /// so a busy machine finds the same programs, later (at most three times later).
    public var budget: Double
    /// Sizes searched beyond the smallest program that gives the examples: with weak examples,
    /// more alternatives show whether the smallest one stands out.
    public var beyond: Int
    /// Keyword options the task documents: a keyword-list argument is read through them.
    public var options: [(key: String, defaultValue: String)] = []
    /// Modules and functions the task tells the code to use (`MapSet`, `Keyword.validate`): a
    /// program calling them is kept beside a smaller one that gives the same values without them.
    public var demands: [String] = []
    /// The struct the examples write, defined in the worker before they are read.
    public var structure: (module: String, keywords: String)?

    public static func == (a: SynthesisRequest, b: SynthesisRequest) -> Bool {
        a.spec == b.spec
    }

    public init(function: String, parameters: [String]?, examples: [Example], words: [String], constants: [String], budget: Double, beyond: Int = 1) {
        self.function = function
        self.parameters = parameters
        self.examples = examples
        self.words = words
        self.constants = constants
        self.budget = budget
        self.beyond = beyond
    }

    /// The request as the worker reads it: one field per line.
    var spec: String {
        var lines = ["function \(function)", "budget \(Int(budget * 1000))", "beyond \(beyond)"]
        if let parameters { lines.append("params " + parameters.joined(separator: ",")) }
        lines.append("word " + words.joined(separator: " "))
        lines += constants.map { "constant " + $0.replacingOccurrences(of: "\n", with: " ") }
        lines += options.map { "option \($0.key) " + $0.defaultValue.replacingOccurrences(of: "\n", with: " ") }
        lines += demands.map { "demand " + $0 }
        if let structure { lines.append("struct \(structure.module) " + structure.keywords.replacingOccurrences(of: "\n", with: " ")) }
        lines += examples.map { "example " + Data($0.expression.utf8).base64EncodedString() + ":" + Data($0.expected.utf8).base64EncodedString() }
        return lines.joined(separator: "\n")
    }
}

/// A library composition that gives every example's value.
public struct SynthesizedProgram: Sendable, Codable, Equatable {
    /// The function's body, one expression.
    public var source: String
    /// Nodes in the program: fewer is simpler.
    public var size: Int
    /// Parameters the program does not read.
    public var unused: Int
    /// How many of the words in its function names share a stem with the task's words.
    public var affinity: Int
    /// How many words its function names have, beside type words such as "integer".
    public var names: Int
    /// How much of the task's wording the documentation of its functions carries (rare stems weigh more).
    public var described: Int
    /// How many of its functions have documentation that shares no informative word with the task.
    public var undescribed: Int
    /// How many probe inputs (the examples' arguments varied) it answers in another shape than
    /// the examples' results (a map of strings for a map of integers).
    public var partial: Int
    /// Constants in it (the rest reads parameters).
    public var literals: Int

    public init(source: String, size: Int, unused: Int, affinity: Int, names: Int, described: Int = 0, undescribed: Int = 0, partial: Int = 0,
                literals: Int = 0) {
        self.source = source
        self.size = size
        self.unused = unused
        self.affinity = affinity
        self.names = names
        self.described = described
        self.undescribed = undescribed
        self.partial = partial
        self.literals = literals
    }
}

/// The synthesizer's answer: the parameter names it used and the programs, in no order.
public struct SynthesisResult: Sendable, Codable, Equatable {
    public var params: [String]
    public var programs: [SynthesizedProgram]
    /// Every example's result is one few programs give by chance (a collection of two or more
    /// different elements, or a string of four or more characters, that is not an argument).
    public var informative: Bool
}

extension CompileWorker {
    /// Searches compositions of standard-library functions that give the examples' values, in
    /// the sandbox (the examples' arguments are evaluated there).
    public func synthesize(_ request: SynthesisRequest) async throws -> SynthesisResult {
        let data: Data
        do {
            data = try await pool.raw(.synth, request.spec, argument: "")
        } catch let error as CheckerError where error.code == .crashed {
            // As for a candidate: the worker may have died before this request, so a fresh one tries once more.
            data = try await pool.raw(.synth, request.spec, argument: "")
        }
        return try Self.decode(SynthesisResult.self, from: data, answerer: "the synthesizer")
    }
}
