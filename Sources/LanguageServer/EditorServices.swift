import Checks
import Clarification
import ElixirCoderApp
import ElixirCoderCore
import Explain
import Foundation
import Pipeline

/// The product's services as an editor uses them: the checks and the sandboxed compiler for
/// diagnostics, the documentation explainer for hovers, and the one generate service (with its
/// model explainer and clarifier) for code actions. Parts start on first use, so a client that
/// never opens a document never starts an Elixir.
public actor EditorServices {
    private let loadSetup: @Sendable () async throws -> GenerationSetup
    private let paths: Paths
    private var checker: ElixirCandidateChecker?
    /// The real Credo and Sobelow of the documents' Mix projects, kept warm between diagnostics.
    private let realTools = RealTools()
    private var hoverExplainer: Explainer?
    /// Whether diagnostics include the compiler's (the file is compiled in the sandbox).
    public var compile = true
    /// Pending clarification questions, by id.
    public let sessions = ClarificationSessions()

    /// - Parameter setup: the generation setup, loaded when first needed (it loads the model).
    public init(paths: Paths = Paths(), setup: @escaping @Sendable () async throws -> GenerationSetup) {
        self.paths = paths
        self.loadSetup = setup
    }

    public func setCompile(_ on: Bool) { compile = on }

    /// The warm checker pool and compile worker; started on first use.
    public func candidateChecker() throws -> ElixirCandidateChecker {
        if let checker { return checker }
        let c = try Components.candidateChecker()
        checker = c
        return c
    }

    /// The generation setup (the model, its checker, the index).
    public func setup() async throws -> GenerationSetup {
        try await loadSetup()
    }

    /// Every finding in a file as the editor shows it: the parser, the formatter, Credo and Sobelow
    /// (the real tools when a `file:` document's Mix project has them, else the built-in rules) and,
    /// when the file parses, the compiler's errors and warnings.
    public func diagnose(_ text: String, uri: String? = nil) async throws -> [Finding] {
        let checker = try candidateChecker()
        // The checker pool and the compile worker are separate processes: run both at once, and
        // drop the compiler's answer when the parser already failed (it would say the same).
        let compiler = compile ? checker.compiler : nil
        async let compiled: CompileReport? = compiler?.compile(text)
        var findings = try await checkFindings(text, uri: uri)
        let report = try await compiled
        if let report, !findings.contains(where: { $0.source == .syntax }) {
            findings += report.diagnostics.map {
                Finding(source: .compiler, check: $0.check, line: $0.line, column: $0.column, message: ($0.severity == .warning ? "warning: " : "") + $0.message)
            }
        }
        return findings
    }

    /// The checks' findings; a real tool that failed is reported as a finding, so the user sees why
    /// the built-in rules stand in.
    private func checkFindings(_ text: String, uri: String?) async throws -> [Finding] {
        let pool = try candidateChecker().pool
        guard let uri, let url = URL(string: uri), url.isFileURL else { return try await pool.findings(in: text) }
        let checked = try await ProjectChecks(pool: pool, tools: realTools).check(CheckedFile(path: url.path, text: text), only: nil, options: CheckOptions())
        return checked.findings + checked.failures.map { Finding(source: .builtin, check: "ElixirCoder.ToolFailed", line: 1, message: $0) }
    }

    /// `mix format`'s version of `text`, nil when it would not change it or does not parse.
    public func formatted(_ text: String) async throws -> String? {
        let f = try await candidateChecker().pool.format(text)
        return f.changed ? f.formatted : nil
    }

    /// An explanation from the documentation alone (fast enough for a hover: no model).
    public func documentationExplanation(code: String, finding: Finding) async throws -> Explanation {
        if hoverExplainer == nil {
            hoverExplainer = Explainer(index: try Components.knowledgeIndex(paths: paths, quiet: true), pool: try candidateChecker().pool,
                                       instance: nil, templates: try PromptTemplates())
        }
        return try await hoverExplainer!.explain(code: code, problem: finding)
    }

    /// An explanation with the model's words where they are usable.
    public func modelExplanation(code: String, finding: Finding) async throws -> Explanation {
        guard let explainer = try await setup().explainer(useModel: true) else {
            throw ConfigurationError(message: "the retrieval index is unavailable; run elixir-coder index build")
        }
        return try await explainer.explain(code: code, problem: finding)
    }
}
