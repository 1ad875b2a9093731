import ArgumentParser
import CommandLineOptions
import Checks
import ElixirCoderApp
import ElixirCoderCore
import Engine
import Foundation
import Grammar
import Pipeline
import Tokenizer

/// `elixir-coder bench grammar`: syntax errors with and without the grammar constraint, and what the mask costs.
struct BenchGrammarCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "grammar",
        abstract: "Complete Elixir prefixes with and without the grammar constraint (same prompts and seeds), judge each with Code.string_to_quoted, and time the mask.",
        discussion: "Both arms stop at end-of-text, at ``` or where the program is complete; the constrained arm also closes open constructs before the token budget runs out."
    )

    @Option(help: "Prefixes (JSON lines with id and prefix; bench/grammar_prefixes.py writes them).") var prefixes = "bench/grammar_prefixes.jsonl"
    @Option(help: "Prefixes to use (0: all).") var limit = 100
    @Option(help: "Seeds per prefix.") var seeds = 1
    @Option(help: "Tokens per completion.") var maxTokens = 96
    @Option(help: "Sequences decoded together.") var batch = 16
    @Option(help: "Write every program and verdict here (JSON lines).") var output: String?
    @Option(parsing: .upToNextOption, help: "Arms to compare with the unconstrained one: grammar (the mask alone), grammar+monitor (the mask, and Elixir's parser judging line ends and rolling back dead lines, as generate does), monitor (the parser vetting every draw, no mask).")
    var arms: [Arm] = [.grammar, .grammarMonitor]
    @Flag(help: "The grammar+monitor arm's monitor vets every draw too.") var monitorEveryDraw = false

    enum Arm: String, ExpressibleByArgument, CaseIterable {
        case grammar, monitor
        case grammarMonitor = "grammar+monitor"
        var masks: Bool { self != .monitor }
        var monitors: Bool { self != .grammar }
    }
    @OptionGroup var modelOptions: ModelOptions

    struct Row {
        let id: String
        let seed: Int
        let program: String
        let finish: String
        let tokens: Int
        let rollbacks: Int
        let rejected: Int
    }

    func run() async throws {
        guard let text = try? String(contentsOfFile: prefixes, encoding: .utf8) else { throw ValidationError("cannot read \(prefixes)") }
        var items: [(String, String)] = text.split(separator: "\n").compactMap { line in
            guard let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let id = o["id"] as? String, let p = o["prefix"] as? String else { return nil }
            return (id, p)
        }
        if limit > 0 { items = Array(items.prefix(limit)) }

        // Compile time: cold (no cache) and from the on-disk cache.
        let grammarText = try GrammarStore.text(named: "elixir")
        let coldStart = Date()
        let compiled = try GrammarCompiler.compile(grammarText)
        let cold = Date().timeIntervalSince(coldStart)
        let loaded = try modelOptions.settings(config: try Configuration.load()).load()
        let tokenizer = loaded.tokenizer
        let vocabHash = GrammarStore.vocabularyHash(tokenizer.tokenBytes)
        let store = GrammarStore()
        _ = try store.load(text: grammarText, vocabularyHash: vocabHash)
        let cached = try store.load(text: grammarText, vocabularyHash: vocabHash)
        let engine = GrammarEngine(grammar: cached.grammar, tokenBytes: tokenizer.tokenBytes, endTokens: Array(tokenizer.eosTokens).sorted())
        Stderr.print(String(format: "grammar: %d terminals, %d parser states, %d lexer states; compiled cold in %.0f ms, loaded from cache in %.1f ms (%@)",
                            compiled.terminalCount, compiled.stateCount, compiled.lexStateCount, cold * 1000, cached.seconds * 1000, cached.source.rawValue))

        let generator = Generator(context: loaded.context(), tokenizer: tokenizer)
        let timings = MaskTimings()
        var results: [(name: String, rows: [Row], seconds: Double)] = []
        let pool = arms.contains { $0.monitors } ? try CheckerPool(size: 2) : nil
        let timedArm = arms.contains(.grammar) ? "grammar" : "grammar+monitor"
        let armSpecs: [(name: String, grammar: Bool, monitor: Bool)] = [("unconstrained", false, false)] + arms.map { ($0.rawValue, $0.masks, $0.monitors) }
        for spec in armSpecs {
            let constrained = spec.grammar
            var rows: [Row] = []
            let start = Date()
            var jobs: [(String, String, Int)] = []
            for (id, p) in items { for s in 0..<seeds { jobs.append((id, p, s)) } }
            var done = 0
            for chunk in stride(from: 0, to: jobs.count, by: max(1, batch)).map({ Array(jobs[$0..<min(jobs.count, $0 + max(1, batch))]) }) {
                var requests: [GenerationRequest] = []
                var processors: [(any LogitsProcessor)?] = []
                for (_, p, s) in chunk {
                    var sampling = SamplingParameters()
                    sampling.seed = UInt64(1000 + s)
                    let monitor: (any PrefixMonitor)? = spec.monitor ? pool.map { SyntaxMonitor(pool: $0, prefix: p) } : nil
                    var request = GenerationRequest(prompt: tokenizer.encode(p), maxTokens: maxTokens, sampling: sampling, stop: ["```"], monitor: monitor)
                    request.monitorEveryDraw = !constrained || monitorEveryDraw
                    requests.append(request)
                    if constrained {
                        var c = try GrammarConstraint(engine: engine, prefix: p, maxTokens: maxTokens)
                        if spec.name == timedArm { c.timings = timings }
                        processors.append(c)
                    } else {
                        processors.append(GrammarObserver(engine: engine, prefix: p))
                    }
                }
                let results = generator.generate(requests, processors: processors)
                for ((id, p, s), r) in zip(chunk, results) {
                    rows.append(Row(id: id, seed: s, program: p + r.text, finish: r.finishReason.rawValue, tokens: r.tokens.count,
                                    rollbacks: r.rollbacks, rejected: r.rejectedTokens))
                }
                done += chunk.count
                Stderr.print("\(spec.name): \(done)/\(jobs.count)")
            }
            results.append((spec.name, rows, Date().timeIntervalSince(start)))
        }

        let programs = results.flatMap { $0.rows.map(\.program) }
        let verdicts = try ElixirParserJudge.judge(programs)
        var offset = 0
        var rates: [Double] = []
        print("elixir-coder bench grammar: \(items.count) prefixes x \(seeds) seed(s), up to \(maxTokens) tokens, \(modelOptions.kernels.rawValue) kernels")
        var report: [[String: Any]] = []
        for arm in results {
            let v = Array(verdicts[offset..<offset + arm.rows.count])
            offset += arm.rows.count
            let broken = v.filter { $0 != "ok" }.count
            let rate = Double(broken) / Double(max(1, arm.rows.count))
            rates.append(rate)
            let tokens = arm.rows.map(\.tokens).reduce(0, +)
            let finishes = Dictionary(grouping: arm.rows, by: \.finish).mapValues(\.count).sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
            print(String(format: "%-14@ syntax errors %3d / %3d (%5.1f%%)  %5d tokens in %6.1f s  finish: %@", arm.name, broken, arm.rows.count, 100 * rate, tokens, arm.seconds, finishes))
            for (row, verdict) in zip(arm.rows, v) {
                report.append(["arm": arm.name, "id": row.id, "seed": row.seed, "finish": row.finish, "verdict": verdict, "program": row.program])
            }
        }
        for (i, arm) in results.enumerated().dropFirst() {
            let reduction = rates[0] > 0 ? 100 * (rates[0] - rates[i]) / rates[0] : 0
            print(String(format: "reduction of the syntax-error rate, %@: %.1f%% (target >= 96%%)", arm.name, reduction))
        }
        let ns = timings.samples.sorted()
        if !ns.isEmpty {
            let median = Double(ns[ns.count / 2]) / 1000
            let p99 = Double(ns[min(ns.count - 1, ns.count * 99 / 100)]) / 1000
            let total = Double(ns.reduce(0, +)) / 1e9
            print(String(format: "mask per token: median %.1f us, p99 %.1f us over %d steps (target median < 50 us)", median, p99, ns.count))
            let timed = results.first { $0.name == timedArm }!.seconds
            print(String(format: "mask share of the %@ arm's decode time: %.1f%% (%.2f s of %.1f s; %d state pairs built lazily, %.2f s of that)",
                         timedArm, 100 * total / timed, total, timed, engine.cachedMaskCount, engine.buildSeconds))
        }
        print(String(format: "grammar compile: cold %.0f ms, cached %.1f ms (target cold < 1 s)", cold * 1000, cached.seconds * 1000))
        for arm in results where arm.name.contains("monitor") {
            print("\(arm.name): \(arm.rows.map(\.rollbacks).reduce(0, +)) line rollbacks, \(arm.rows.map(\.rejected).reduce(0, +)) tokens rejected by the parser")
        }
        if let output {
            let lines = try report.map { String(decoding: try JSONSerialization.data(withJSONObject: $0, options: [.sortedKeys]), as: UTF8.self) }
            try (lines.joined(separator: "\n") + "\n").write(toFile: output, atomically: true, encoding: .utf8)
        }
    }
}
