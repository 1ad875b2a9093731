import ArgumentParser
import CommandLineOptions
import Checks
import ElixirCoderApp
import ElixirCoderCore
import Engine
import Explain
import Foundation
import Pipeline
import Serving

/// `elixir-coder explain FILE`: findings explained in Markdown, grounded in the retrieval index.
struct ExplainCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "explain",
        abstract: "Run the checks on an Elixir file and explain each finding: what, why it matters, how to fix (with a verified example), sources.",
        discussion: "Markdown goes to stdout (or JSON with --json). The model writes the 'Why it matters' section from the retrieved passages; when its text is unusable, or with --no-model, the reference documentation stands in and the section says so. Exit 0 when something was explained or nothing was found, 2 on errors."
    )

    @Argument(help: "An Elixir file, or - for standard input.") var file: String
    @Option(help: "Only findings on this line.") var line: Int?
    @Option(help: "Only findings of this check id (e.g. DOS.StringToAtom, Credo.Check.Readability.ModuleDoc).") var check: String?
    @Flag(help: "Do not use the model; explain from the documentation alone (fast).") var noModel = false
    @Flag(help: "Print JSON: one object per finding with the Markdown and its parts.") var json = false
    @OptionGroup var modelOptions: ModelOptions

    func run() async throws {
        let code: String
        if file == "-" {
            code = try readInput("-")
        } else {
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { throw ValidationError("cannot read \(file)") }
            code = text
        }
        let index = try Components.knowledgeIndex()
        let pool = try CheckerPool(size: 1)
        var instance: (any InferenceBackend)?
        if !noModel {
            instance = try Components.backend(modelOptions.settings(config: try Configuration.load()), name: "explain")
        }
        defer { instance?.shutdown() }
        let explainer = Explainer(index: index, pool: pool, instance: instance, templates: try PromptTemplates())
        let kind: SourceKind = file.contains("config/") && file.hasSuffix(".exs") ? .config : .code
        let explanations = try await explainer.explainAll(code: code, kind: kind, path: file, line: line, check: check, progress: { Stderr.print($0) })
        if json { return try printJSON(explanations) }
        if explanations.isEmpty { Stderr.print("no findings" + (line.map { " on line \($0)" } ?? "") + (check.map { " of \($0)" } ?? "")) }
        writeOut(explanations.map(\.markdown).joined(separator: "\n---\n\n"))
    }
}

/// `elixir-coder index`: the retrieval index over our check pages and MITRE's CWE catalogue.
struct IndexCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "index",
        abstract: "Build or query the retrieval index (SQLite FTS5 over rag-index/ and the CWE catalogue).",
        subcommands: [Build.self, Search.self]
    )

    struct Build: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Build the index (only when its sources changed, unless --force).")
        @Flag(help: "Rebuild even when the sources did not change.") var force = false

        func run() throws {
            let paths = Paths()
            let file = paths.cache.appendingPathComponent("index/knowledge.sqlite")
            if force {
                for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: file.path + suffix) }
            }
            let start = Date()
            let index = try Components.knowledgeIndex(paths: paths)
            let (pages, cwes) = try index.counts()
            print(String(format: "%@: %d check pages, %d CWE entries (%.2f s)", index.path, pages, cwes, Date().timeIntervalSince(start)))
        }
    }

    struct Search: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "BM25 search, or a finding's retrieval with --check.")
        @Argument(help: "Words to search for.") var query: String
        @Option(help: "Retrieve for this check id: its page and CWE first, then neighbours.") var check: String?
        @Option(help: "Passages to return.") var limit = 5
        @Flag(help: "Print JSON.") var json = false

        func run() throws {
            let index = try Components.knowledgeIndex()
            let hits = try check.map { try index.retrieve(check: $0, message: query, limit: limit) } ?? index.search(query, limit: limit)
            if json { return try printJSON(hits) }
            for h in hits { print(String(format: "%-10@ %-45@ %@", h.kind ?? "", h.id ?? "", h.source)) }
        }
    }
}
