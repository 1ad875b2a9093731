import Checks
import Engine
import Foundation

/// One problem a checker found in a candidate.
public struct Problem: Sendable, Codable, Equatable {
    /// `syntax`, `format`, `credo`, `sobelow`, `builtin`, `test`.
    public var source: String
    public var check: String
    public var line: Int
    public var column: Int?
    public var message: String

    public init(source: String, check: String, line: Int, column: Int? = nil, message: String) {
        self.source = source
        self.check = check
        self.line = line
        self.column = column
        self.message = message
    }
}

/// Judges candidate code. The seam where the full checker (syntax, format,
/// Credo or built-in rules, Sobelow) plugs into the generate-check-repair loop.
public protocol CandidateChecker: Sendable {
    func problems(in code: String) async throws -> [Problem]
    /// A meaning-preserving clean-up applied before checking (the formatter).
    func normalize(_ code: String) async -> String
}

extension CandidateChecker {
    public func normalize(_ code: String) async -> String { code }
}

/// The checks layer behind the loop: the parser, the formatter (applied, since it
/// never changes meaning), the built-in Credo and Sobelow rules, and the shape the
/// product promises (one named module with at least one function).
public struct ElixirCandidateChecker: CandidateChecker {
    public let pool: CheckerPool

    public init(pool: CheckerPool) {
        self.pool = pool
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

    public func problems(in code: String) async throws -> [Problem] {
        let r = try await pool.report("all", code)
        if r.syntax.status != .ok {
            let token = r.syntax.token.map { $0.isEmpty ? "" : " \($0)" } ?? ""
            return [Problem(source: "syntax", check: "SyntaxError", line: r.syntax.line ?? 1, column: r.syntax.column,
                            message: (r.syntax.message ?? "syntax error") + token)]
        }
        var out: [Problem] = []
        if let facts = r.facts {
            if facts.modules.isEmpty {
                out.append(Problem(source: "builtin", check: "ElixirCoder.NoModule", line: 1, message: "the code defines no module"))
            } else if facts.functions.isEmpty {
                out.append(Problem(source: "builtin", check: "ElixirCoder.NoFunction", line: 1, message: "the module defines no function"))
            }
        }
        for f in r.findings ?? [] {
            out.append(Problem(source: f.source.rawValue, check: f.check, line: f.line, column: f.column, message: f.message))
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
    /// Checks whose finding kills a line: debugging leftovers and the dangerous calls.
    public var blockingRules: Set<String> = SyntaxMonitor.defaultBlockingRules

    public static let defaultBlockingRules: Set<String> = [
        "Credo.Check.Warning.IoInspect", "Credo.Check.Warning.Dbg", "Credo.Check.Warning.IExPry", "Credo.Check.Warning.UnsafeExec",
        "DOS.StringToAtom", "DOS.ListToAtom", "DOS.BinToAtom", "RCE.CodeModule", "RCE.EEx", "CI.System", "CI.OS", "Misc.BinToTerm",
    ]

    public init(pool: CheckerPool, prefix: String) {
        self.pool = pool
        self.prefix = prefix
    }

    public func verdict(for generated: String, final: Bool) -> PrefixVerdict {
        var code = prefix + generated
        var ending = final
        // A backtick would start the closing fence: the program has to be complete there.
        if let tick = code.firstIndex(of: "`") {
            code = String(code[..<tick])
            ending = true
        }
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
