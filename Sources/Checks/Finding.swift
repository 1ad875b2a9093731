/// Where a finding comes from.
public enum FindingSource: String, Codable, Sendable, CaseIterable {
    case syntax, format, credo, sobelow, builtin
    /// The Elixir compiler, run in the sandbox.
    case compiler
    /// The task's contract: the module or function it names is missing.
    case contract
    /// The task's examples, run against the compiled candidate.
    case examples
    /// The user's ExUnit tests.
    case tests
}

/// One problem in a piece of Elixir code, whoever found it: the parser, the
/// formatter, Credo, Sobelow, or our built-in rules that mirror them.
public struct Finding: Codable, Sendable, Equatable {
    public var source: FindingSource
    /// Credo's or Sobelow's own name (`Credo.Check.Warning.IoInspect`, `DOS.StringToAtom`).
    public var check: String
    /// Sobelow's rule id (`SBLW013`), when there is one.
    public var ruleID: String?
    public var category: String
    /// Credo's numeric priority (higher is more important).
    public var priority: Int?
    /// Sobelow's confidence: high, medium or low.
    public var confidence: String?
    public var line: Int
    public var column: Int?
    public var message: String
    public var snippet: String?
    public var cwe: String?
    /// True when our built-in rules produced it rather than the real tool.
    public var builtin: Bool

    public init(source: FindingSource, check: String, ruleID: String? = nil, category: String = "", priority: Int? = nil, confidence: String? = nil,
                line: Int, column: Int? = nil, message: String, snippet: String? = nil, cwe: String? = nil, builtin: Bool = false) {
        self.source = source
        self.check = check
        self.ruleID = ruleID
        self.category = category
        self.priority = priority
        self.confidence = confidence
        self.line = line
        self.column = column
        self.message = message
        self.snippet = snippet
        self.cwe = cwe
        self.builtin = builtin
    }

    /// Credo's name for the priority's band (higher, high, normal, low, ignore); nil for other sources.
    public var priorityName: String? {
        guard source == .credo, let p = priority else { return nil }
        switch p {
        case 20...: return "higher"
        case 10...19: return "high"
        case 0...9: return "normal"
        case -10 ... -1: return "low"
        default: return "ignore"
        }
    }

    /// Compiler-style severity for display.
    public var severity: String {
        switch source {
        case .syntax: return "error"
        case .sobelow: return confidence == "low" ? "warning" : "error"
        case .format: return "info"
        case .compiler, .contract, .examples, .tests: return "error"
        default: return (priority ?? 0) >= 10 ? "warning" : "info"
        }
    }

    enum CodingKeys: String, CodingKey {
        case source, check, ruleID = "rule_id", category, priority, confidence, line, column, message, snippet, cwe, builtin
    }
}

/// What the parser says about a piece of code.
public struct SyntaxResult: Codable, Sendable, Equatable {
    public enum Status: String, Codable, Sendable {
        case ok
        /// A viable prefix: something is still open at the end (missing terminator).
        case incomplete
        /// Dead: no continuation can make it parse.
        case invalid
    }
    public var status: Status
    public var line: Int?
    public var column: Int?
    public var message: String?
    public var token: String?
    /// The whole message as Elixir composes it: the token between a prefix and a suffix
    /// (`unexpected token: ). The "do" at line 4 is missing terminator "end"`).
    public var composed: String?

    /// What to show: Elixir's own message, or the message and token when the checker gave no composition.
    public var displayMessage: String {
        if let composed, !composed.isEmpty { return composed }
        return (message ?? "syntax error") + (token.map { $0.isEmpty ? "" : " \($0)" } ?? "")
    }
}

/// Whether `mix format` would change the code.
public struct FormatResult: Codable, Sendable, Equatable {
    public var changed: Bool
    public var formatted: String?
}

/// Structural and behavioural facts about a program, for clustering candidates.
public struct ASTFacts: Codable, Sendable, Equatable {
    public var modules: [String]
    /// `name/arity public|private`.
    public var functions: [String]
    public var aliases: [String]
    public var imports: [String]
    public var uses: [String]
    public var remoteCalls: [String]
    public var errorHandling: [String]
    public var concurrency: [String]
    public var dataStructures: [String]
    public var dependencies: [String]

    enum CodingKeys: String, CodingKey {
        case modules, functions, aliases, imports, uses, remoteCalls = "remote_calls", errorHandling = "error_handling",
             concurrency, dataStructures = "data_structures", dependencies
    }
}

/// Everything one checker request returns.
public struct CheckReport: Codable, Sendable {
    public var syntax: SyntaxResult
    public var format: FormatResult?
    public var facts: ASTFacts?
    public var findings: [Finding]?
    /// What the user's tool configuration could not say (code in `.credo.exs`, a file it excludes).
    public var notes: [String]?
}

/// A checker failure: a crashed or stuck process, bad input, a missing tool.
public struct CheckerError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Code: String, Sendable { case tooLarge, crashed, timedOut, unavailable, badResponse }
    public let code: Code
    public let message: String
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }
    public var description: String { message }
}
