import Checks
import Engine
import Foundation

/// What a candidate was shown to do: the evidence a status rests on.
public struct Evidence: Sendable, Codable, Equatable {
    /// Whether the compiler accepted it; nil when it was not compiled (it does not parse, or
    /// there is no compiler to run).
    public var compiled: Bool?
    public var compilerWarnings = 0
    public var examplesRun = 0
    public var examplesPassed = 0
    public var testsRun = 0
    public var testsPassed = 0

    public init(compiled: Bool? = nil) { self.compiled = compiled }

    /// Whether any example or test ran.
    public var behaviourChecked: Bool { examplesRun + testsRun > 0 }
    /// Whether examples or tests ran and every one passed.
    public var behaviourPassed: Bool { behaviourChecked && examplesPassed == examplesRun && testsPassed == testsRun }
}

/// A candidate's problems and the evidence behind its status.
public struct Evaluation: Sendable {
    public var problems: [Finding]
    public var evidence: Evidence

    public init(problems: [Finding], evidence: Evidence) {
        self.problems = problems
        self.evidence = evidence
    }
}

extension Finding {
    /// Without a sandbox nothing is compiled, so no candidate can be called compiled.
    static let notCompiled = Finding(source: .compiler, check: "Compiler.NotRun", line: 1,
                                     message: "not compiled: there is no sandbox to compile in (install bubblewrap, or run make setup)")
}

/// Judges candidate code. The seam where the full checker (syntax, format,
/// Credo or built-in rules, Sobelow, the compiler, examples and tests) plugs into the
/// generate-check-repair loop.
public protocol CandidateChecker: Sendable {
    func problems(in code: String) async throws -> [Finding]
    /// A meaning-preserving clean-up applied before checking (the formatter).
    func normalize(_ code: String) async -> String
    /// Every check, the compiler and what the task demands (its module, functions, examples, tests).
    func evaluate(_ code: String, contract: TaskContract) async throws -> Evaluation
}

extension CandidateChecker {
    public func normalize(_ code: String) async -> String { code }

    /// Without a compiler: the static checks only, and nothing claimed about compiling.
    public func evaluate(_ code: String, contract: TaskContract) async throws -> Evaluation {
        Evaluation(problems: try await problems(in: code) + [Finding.notCompiled], evidence: Evidence())
    }
}

/// The checks layer behind the loop: the parser, the formatter (applied, since it
/// never changes meaning), the built-in Credo and Sobelow rules, and the shape the
/// product promises (one named module with at least one function).
public struct ElixirCandidateChecker: CandidateChecker {
    public let pool: CheckerPool
    /// The sandboxed compiler; nil where there is no sandbox, and then nothing is compiled or run.
    public let compiler: CompileWorker?
    /// Runs the caller's ExUnit tests.
    public var testRunner = TestRunner()

    public init(pool: CheckerPool, compiler: CompileWorker? = nil) {
        self.pool = pool
        self.compiler = compiler
    }

    /// Closes a candidate the token limit cut off, then formats it.
    public func normalize(_ code: String) async -> String {
        var code = code
        if (try? await pool.syntax(code))?.status == .incomplete, let closed = try? await pool.close(code) {
            code = closed
        }
        guard let f = try? await pool.format(code), f.changed, let formatted = f.formatted else { return code }
        return formatted
    }

    public func problems(in code: String) async throws -> [Finding] {
        Self.problems(in: try await pool.report(.all, code))
    }

    public func evaluate(_ code: String, contract: TaskContract) async throws -> Evaluation {
        let report: CheckReport
        do {
            report = try await pool.report(.all, code)
        } catch let error as CheckerError where error.code == .badResponse {
            // The checker could not judge this candidate: a finding for it, never the end of the request.
            return Evaluation(problems: [Finding(source: .builtin, check: "ElixirCoder.RuleFailed", line: 1, message: "the checker failed on this code: \(error.message)")],
                              evidence: Evidence())
        }
        var problems = Self.problems(in: report)
        var evidence = Evidence()
        guard report.syntax.status == .ok else { return Evaluation(problems: problems, evidence: evidence) }
        guard let compiler else {
            problems.append(.notCompiled)
            let modules = report.facts?.modules ?? []
            let functions = (report.facts?.functions ?? []).filter { $0.hasSuffix(" public") }.map { $0.dropLast(" public".count) }
            problems += contract.problems(modules: modules, functions: modules.flatMap { m in functions.map { "\(m).\($0)" } })
            return Evaluation(problems: problems, evidence: evidence)
        }
        let compiled = try await compiler.compile(code, examples: contract.examples)
        evidence.compiled = compiled.compiled
        evidence.compilerWarnings = compiled.warnings.count
        problems += compiled.diagnostics.map {
            Finding(source: .compiler, check: $0.check, line: $0.line, column: $0.column, message: ($0.severity == .warning ? "warning: " : "") + $0.message)
        }
        guard compiled.compiled else { return Evaluation(problems: problems, evidence: evidence) }
        problems += contract.problems(modules: compiled.modules, functions: compiled.functions)
        evidence.examplesRun = compiled.examples.count
        evidence.examplesPassed = compiled.examples.filter(\.passed).count
        for e in compiled.examples where !e.passed {
            problems.append(Finding(source: .examples, check: "Example.Failed", line: 1,
                                    message: "`\(e.expression)` gave `\(e.actual)`, expected `\(e.expected)`"))
        }
        // The caller's tests (a fresh Elixir each) run on every candidate that compiles: passing them ranks first.
        if let tests = contract.tests {
            let runner = testRunner
            let outcome = try await Task.detached { try runner.run(code: code, tests: tests) }.value
            evidence.testsRun = max(outcome.tests, 1)
            evidence.testsPassed = outcome.error == nil ? outcome.tests - outcome.failures.count : 0
            if let error = outcome.error { problems.append(Finding(source: .tests, check: "ExUnit.Run", line: 1, message: error)) }
            problems += outcome.failures.map {
                Finding(source: .tests, check: "ExUnit.Failure", line: 1, message: "\($0.test) failed (test line \($0.line.map(String.init) ?? "?")): \($0.message)")
            }
        }
        return Evaluation(problems: problems, evidence: evidence)
    }

    static func problems(in r: CheckReport) -> [Finding] {
        if r.syntax.status != .ok {
            return [Finding(source: .syntax, check: "SyntaxError", line: r.syntax.line ?? 1, column: r.syntax.column,
                            message: r.syntax.displayMessage)]
        }
        var out: [Finding] = []
        if let facts = r.facts {
            if facts.modules.isEmpty {
                out.append(Finding(source: .builtin, check: "ElixirCoder.NoModule", line: 1, message: "the code defines no module"))
            } else if facts.functions.isEmpty {
                out.append(Finding(source: .builtin, check: "ElixirCoder.NoFunction", line: 1, message: "the module defines no function"))
            }
        }
        for f in r.findings ?? [] {
            out.append(f)
        }
        return out
    }
}

/// Elixir's own parser as a decoding monitor: a prefix that is merely incomplete (something
/// still open) is viable; a hard syntax error is dead. At each line end the built-in rules in
/// `blockingRules` run too, so a line that calls `IO.inspect` or `String.to_atom` on input is
/// rolled back like a syntax error.
public struct SyntaxMonitor: PrefixMonitor {
    public let pool: CheckerPool
    /// Code that precedes the generated text (the prefilled module head).
    public let prefix: String
    /// Code that follows the generated text once it is done (the rest of the file in stub mode).
    public var suffix = ""
    /// Checks whose finding kills a line: debugging leftovers and the dangerous calls.
    public var blockingRules: Set<String> = SyntaxMonitor.defaultBlockingRules

    public static let defaultBlockingRules: Set<String> = [
        "Credo.Check.Warning.IoInspect", "Credo.Check.Warning.Dbg", "Credo.Check.Warning.IExPry", "Credo.Check.Warning.UnsafeExec",
        "DOS.StringToAtom", "DOS.ListToAtom", "DOS.BinToAtom", "RCE.CodeModule", "RCE.EEx", "CI.System", "CI.OS", "Misc.BinToTerm",
    ]

    public init(pool: CheckerPool, prefix: String, suffix: String = "") {
        self.pool = pool
        self.prefix = prefix
        self.suffix = suffix
    }

    public func verdict(for generated: String, final: Bool) -> PrefixVerdict {
        var code = prefix + generated
        var ending = final
        // A backtick would start the closing fence: the program has to be complete there.
        if let tick = code.firstIndex(of: "`") {
            code = String(code[..<tick])
            ending = true
        }
        if ending { code += suffix }
        guard let r = try? (ending ? pool.syntaxBlocking(code) : pool.viabilityBlocking(code)) else { return .viable }
        switch r.status {
        case .invalid: return .dead(r.message ?? "syntax error")
        case .incomplete where ending: return .dead("the program is not complete yet")
        default:
            if !blockingRules.isEmpty, generated.hasSuffix("\n"), let hit = (try? pool.prefixFindingsBlocking(code))?.first(where: { blockingRules.contains($0.check) }) {
                return .dead("\(hit.check) fired on line \(hit.line)")
            }
            return .viable
        }
    }
}
