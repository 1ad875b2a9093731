import ArgumentParser
import CommandLineOptions
import Checks
import ElixirCoderApp
import ElixirCoderCore
import Explain
import Foundation
import Pipeline
import Serving

/// `elixir-coder bench explain`: retrieval hit rate, fix verification and latency of explanations.
struct BenchExplainCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "explain",
        abstract: "Run the checker on every page's bad example; for each finding, is its own page first and its CWE in the top 3 (ontology-first retrieval, and BM25 alone for comparison); then explain a sample with the model: fix verified, model text used, latency."
    )

    @Option(help: "Findings to explain with the model (0 skips that part).") var explain = 12
    @Flag(help: "Print JSON.") var json = false
    @OptionGroup var modelOptions: ModelOptions

    struct Figures: Encodable {
        var findings = 0
        var ownPageFirst = 0
        var withCWE = 0
        var cweInTop3 = 0
        var bm25OwnPageFirst = 0
        var bm25OwnPageTop3 = 0
        var hitRate: Double = 0
        var explained = 0
        var fixVerified = 0
        var modelTextUsed = 0
        var latencyP50: Double = 0
        var latencyP95: Double = 0
        var fallbackReasons: [String: Int] = [:]
    }

    func run() async throws {
        let index = try Components.knowledgeIndex()
        let pool = try CheckerPool(size: 1)
        let sources = try KnowledgeSources.locate()
        let pages = try CheckPage.loadAll(from: sources.pages)
        var f = Figures()
        var samples: [(code: String, problem: Finding)] = []
        var sampled = Set<String>()
        for page in pages {
            guard let bad = page.badExample else { continue }
            let kind: SourceKind = bad.contains("import Config") ? .config : .code
            for finding in try await pool.findings(in: bad, only: nil, kind: kind) {
                let problem = finding
                let id = Explainer.pageID(for: problem)
                guard id == page.id, let own = try index.page(id) else { continue }
                f.findings += 1
                let hits = try index.retrieve(check: id, message: problem.message, limit: 5)
                let first = hits.first?.id == id
                if first { f.ownPageFirst += 1 }
                var cweOK = true
                if let cwe = own.cwe {
                    f.withCWE += 1
                    cweOK = hits.prefix(3).contains { $0.id == cwe }
                    if cweOK { f.cweInTop3 += 1 }
                }
                if first && cweOK { f.hitRate += 1 }
                let bm25 = try index.search(problem.message + " " + (finding.snippet ?? ""), limit: 3, kind: "check")
                if bm25.first?.id == id { f.bm25OwnPageFirst += 1 }
                if bm25.contains(where: { $0.id == id }) { f.bm25OwnPageTop3 += 1 }
                if sampled.insert(id).inserted { samples.append((bad, problem)) }
            }
        }
        f.hitRate /= Double(max(1, f.findings))
        if explain > 0 {
            let instance = try modelOptions.settings(config: try Configuration.load()).load().instance(name: "bench-explain")
            defer { instance.shutdown() }
            let explainer = Explainer(index: index, pool: pool, instance: instance, templates: try PromptTemplates())
            // Spread the sample over sources: every k-th distinct check.
            let step = max(1, samples.count / explain)
            var latencies: [Double] = []
            for (code, problem) in stride(from: 0, to: samples.count, by: step).map({ samples[$0] }).prefix(explain) {
                let e = try await explainer.explain(code: code, problem: problem)
                f.explained += 1
                if e.fix?.verified == true { f.fixVerified += 1 }
                if e.modelText != nil { f.modelTextUsed += 1 }
                if let r = e.fallbackReason { f.fallbackReasons[r, default: 0] += 1 }
                latencies.append(e.seconds)
                Stderr.print(String(format: "%-45@ %.2f s  fix %@  model text %@", problem.check, e.seconds, e.fix?.verified == true ? "verified" : "NOT verified",
                                    e.modelText != nil ? "used" : "replaced (\(e.fallbackReason ?? ""))"))
            }
            latencies.sort()
            f.latencyP50 = latencies.isEmpty ? 0 : latencies[latencies.count / 2]
            f.latencyP95 = latencies.isEmpty ? 0 : latencies[min(latencies.count - 1, Int(Double(latencies.count) * 0.95))]
        }
        if json { return try printJSON(f) }
        func pct(_ a: Int, _ b: Int) -> String { String(format: "%d/%d (%.0f%%)", a, b, b == 0 ? 0 : Double(a) / Double(b) * 100) }
        print("retrieval over \(f.findings) findings produced on the pages' bad examples:")
        print("  own page first: \(pct(f.ownPageFirst, f.findings)); CWE in top 3: \(pct(f.cweInTop3, f.withCWE)); both (hit rate): \(String(format: "%.1f%%", f.hitRate * 100)) (target 95%)")
        print("  BM25 alone on the finding's message and line: own page first \(pct(f.bm25OwnPageFirst, f.findings)), in top 3 \(pct(f.bm25OwnPageTop3, f.findings))")
        if f.explained > 0 {
            print("explanations with the model (\(f.explained) distinct checks):")
            print("  fix example parses and clears the finding: \(pct(f.fixVerified, f.explained))")
            print("  model text used: \(pct(f.modelTextUsed, f.explained)); replaced: " + f.fallbackReasons.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", "))
            print(String(format: "  latency per explanation: p50 %.2f s, p95 %.2f s", f.latencyP50, f.latencyP95))
        }
    }
}
