import ArgumentParser
import CommandLineOptions
import Checks
import ElixirCoderApp
import ElixirCoderCore
import Engine
import Foundation
import Pipeline
import Serving
import Telemetry

/// `elixir-coder bench quality`: does the returned code pass hidden tests, and do the statuses tell the truth?
struct BenchQualityCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quality",
        abstract: "Run generate on the functional task set and score each answer with the task's hidden ExUnit tests, beside a raw greedy baseline.",
        discussion: """
            Each task names its module and function and carries at most two examples; about a third are stubs to fill in place. \
            The hidden tests are used only for scoring, never shown to the loop. The raw baseline is one greedy completion of the \
            same prompt (the plain module head, or the stub's file head) with no monitor, grammar, checks, examples or repair. \
            Per-task results go to --results so regressions show in review.
            """
    )

    @Option(help: "Task set (JSON lines: id, level, mode, module, function, task, context, tests).") var tasks = "bench/quality/tasks.jsonl"
    @Option(help: "Run only the first N tasks.") var limit: Int?
    @Option(help: "Run only these ids (comma-separated).") var ids: String?
    @Option(help: "Run every Nth task (a sample that keeps the set's mix of levels and modes).") var every = 1
    @Option(help: "Where per-task results go (JSON lines).") var results = "bench/quality/results.jsonl"
    @Option(help: "Candidates per round (default \(GenerateOptions().candidates)).") var candidates: Int?
    @Option(help: "Rounds at most (default \(GenerateOptions().maxAttempts)).") var maxAttempts: Int?
    @Option(help: "Seconds after which no new round starts (default \(Int(GenerateOptions().timeBudget))).") var timeBudget: Double?
    @Flag(help: "Skip the raw baseline.") var noRaw = false
    @Flag(help: "Do not search library compositions that give the examples (measures the model's loop alone).") var noSynthesize = false
    @Flag(help: "Print the summary as JSON.") var json = false
    @Flag(help: "Run the ambiguous tasks (--ambiguous-tasks) twice, as written and with the user's answer folded in as `generate --clarify --answer` folds it; report both pass rates.") var ambiguous = false
    @Option(help: "Ambiguous task set for --ambiguous (JSON lines: the fields of --tasks plus kind and answer).") var ambiguousTasks = "bench/quality/ambiguous.jsonl"
    @Option(help: "Where --ambiguous writes its per-task results (JSON lines).") var ambiguousResults = "bench/quality/ambiguous_results.jsonl"
    @OptionGroup var modelOptions: ModelOptions

    struct QualityTask: Decodable {
        let id: String
        let level: String
        let mode: String
        let task: String
        let context: String?
        let tests: String
    }

    /// One task's outcome, loop and baseline.
    struct Row: Codable {
        var id: String
        var level: String
        var mode: String
        var status: String
        var passed: Bool
        var compiles: Bool
        var examplesRun: Int
        var attempts: Int
        var seconds: Double
        var rawPassed: Bool?
        var rawCompiles: Bool?
    }

    func run() async throws {
        if ambiguous { return try await runAmbiguous() }
        guard let text = try? String(contentsOfFile: tasks, encoding: .utf8) else { throw ValidationError("cannot read \(tasks)") }
        var all = try text.split(separator: "\n").map { try JSONDecoder().decode(QualityTask.self, from: Data($0.utf8)) }
        if let ids { let wanted = Set(ids.split(separator: ",").map(String.init)); all = all.filter { wanted.contains($0.id) } }
        all = all.enumerated().filter { $0.offset % max(1, every) == 0 }.map(\.element)
        if let limit { all = Array(all.prefix(limit)) }
        guard !all.isEmpty else { throw ValidationError("no tasks to run") }
        let setup = try GenerationSetup.make(modelOptions: modelOptions, observability: nil)
        defer { setup.close() }
        let generator = setup.observed.primary
        var scorer = TestRunner()
        // The hidden tests take well under a second on a correct answer; a looping one should not cost 20.
        scorer.timeout = 5
        var rows: [Row] = []
        let out = FileManager.default.createFile(atPath: results, contents: nil) ? FileHandle(forWritingAtPath: results) : nil
        defer { try? out?.close() }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        for (n, t) in all.enumerated() {
            var o = try options(setup)
            o.context = t.context
            let start = Date()
            let r = try await generator.generate(task: t.task, options: o)
            let seconds = Date().timeIntervalSince(start)
            let score = try Self.score(r.code, tests: t.tests, runner: scorer)
            var row = Row(id: t.id, level: t.level, mode: t.mode, status: r.status.rawValue, passed: score.passed, compiles: score.compiles,
                          examplesRun: r.evidence.examplesRun, attempts: r.attempts.count, seconds: seconds)
            if !noRaw {
                let raw = try await Self.rawCompletion(generator, task: t.task, context: t.context)
                let rawScore = try Self.score(raw, tests: t.tests, runner: scorer)
                row.rawPassed = rawScore.passed
                row.rawCompiles = rawScore.compiles
            }
            rows.append(row)
            try out?.write(contentsOf: try encoder.encode(row) + Data("\n".utf8))
            Stderr.print(String(format: "[%d/%d] %@ %@ %@ %@ (%.1f s)%@", n + 1, all.count, t.id, t.level, r.status.rawValue,
                                score.passed ? "PASS" : "fail", seconds, row.rawPassed.map { $0 ? "; raw PASS" : "; raw fail" } ?? ""))
        }
        let summary = Summary(rows)
        if json {
            try printJSON(summary)
        } else {
            let env = RunMetadata.Environment.current()
            print(summary.text(cpu: "\(env.cpu), \(env.cores) cores"))
        }
    }

    /// The generate options of a run, with this command's overrides.
    func options(_ setup: GenerationSetup) throws -> GenerateOptions {
        var o = try setup.options()
        o.candidates = candidates ?? o.candidates
        o.maxAttempts = maxAttempts ?? o.maxAttempts
        o.timeBudget = timeBudget ?? o.timeBudget
        o.synthesize = !noSynthesize
        return o
    }

    /// Whether the code compiles and the hidden tests pass, in a fresh isolated Elixir.
    static func score(_ code: String, tests: String, runner: TestRunner) throws -> (passed: Bool, compiles: Bool) {
        guard !code.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { return (false, false) }
        let outcome = try runner.run(code: code, tests: tests)
        let compiles = !(outcome.error?.hasPrefix("the candidate does not compile") ?? false)
        return (outcome.passed, compiles)
    }

    /// One greedy completion of the task's plain prompt, as the model writes it, with nothing around it.
    static func rawCompletion(_ generator: CodeGenerator, task: String, context: String?) async throws -> String {
        let contract = TaskContract.parse(task: task, context: context)
        let scaffold: Scaffold = contract.stub.map { .stub($0) } ?? .module(CodeGenerator.moduleName(for: task, contract: contract))
        let prompt = generator.firstPrompt(task: task, context: context, scaffold: scaffold)
        let request = GenerationRequest(prompt: generator.instance.tokenizer.encode(prompt, parseSpecial: true), maxTokens: 256, sampling: .greedy, stop: scaffold.stops)
        var text = ""
        for try await event in generator.instance.stream([request], processors: nil)[0] {
            if case .finished(let r) = event { text = r.text }
        }
        return scaffold.code(from: text)
    }

    /// The figures the issue asks for.
    struct Summary: Encodable {
        var tasks: Int
        var passRate: Double
        var rawPassRate: Double?
        var statusShare: [String: Double]
        var passGivenVerified: Double?
        var passGivenCompiled: Double?
        var compileRate: Double
        var rawCompileRate: Double?
        /// Answers labelled compiled or verified that do not compile (target 0).
        var mislabelled: Int
        var medianSeconds: Double
        var p95Seconds: Double
        var passRateByLevel: [String: Double]
        var passRateByMode: [String: Double]

        init(_ rows: [Row]) {
            let n = Double(rows.count)
            func rate(_ xs: [Row], _ p: (Row) -> Bool) -> Double { xs.isEmpty ? 0 : Double(xs.filter(p).count) / Double(xs.count) }
            tasks = rows.count
            passRate = rate(rows, \.passed)
            let raw = rows.filter { $0.rawPassed != nil }
            rawPassRate = raw.isEmpty ? nil : rate(raw) { $0.rawPassed == true }
            rawCompileRate = raw.isEmpty ? nil : rate(raw) { $0.rawCompiles == true }
            statusShare = Dictionary(grouping: rows, by: \.status).mapValues { Double($0.count) / n }
            let verified = rows.filter { $0.status == "verified" }, compiled = rows.filter { $0.status == "compiled" }
            passGivenVerified = verified.isEmpty ? nil : rate(verified, \.passed)
            passGivenCompiled = compiled.isEmpty ? nil : rate(compiled, \.passed)
            compileRate = rate(rows, \.compiles)
            mislabelled = rows.filter { ["verified", "compiled"].contains($0.status) && !$0.compiles }.count
            let times = rows.map(\.seconds).sorted()
            medianSeconds = times[times.count / 2]
            p95Seconds = times[min(times.count - 1, Int((Double(times.count) * 0.95).rounded(.up)) - 1)]
            passRateByLevel = Dictionary(grouping: rows, by: \.level).mapValues { rate($0, \.passed) }
            passRateByMode = Dictionary(grouping: rows, by: \.mode).mapValues { rate($0, \.passed) }
        }

        func text(cpu: String) -> String {
            func pct(_ x: Double?) -> String { x.map { String(format: "%.1f%%", $0 * 100) } ?? "-" }
            var lines = ["quality on \(tasks) tasks (\(cpu))",
                         "  hidden tests pass:   \(pct(passRate))   raw greedy baseline: \(pct(rawPassRate))"
                            + (rawPassRate.map { $0 > 0 ? String(format: " (%.1fx)", passRate / $0) : " (baseline passes none)" } ?? ""),
                         "  compiles:            \(pct(compileRate))   raw: \(pct(rawCompileRate))",
                         "  statuses:            " + statusShare.sorted { $0.key < $1.key }.map { "\($0.key) \(pct($0.value))" }.joined(separator: ", "),
                         "  P(pass | verified):  \(pct(passGivenVerified))   P(pass | compiled): \(pct(passGivenCompiled))",
                         "  labelled compiled or verified but not compiling: \(mislabelled)",
                         String(format: "  seconds per task:    median %.1f, p95 %.1f", medianSeconds, p95Seconds),
                         "  by level:            " + passRateByLevel.sorted { $0.key < $1.key }.map { "\($0.key) \(pct($0.value))" }.joined(separator: ", "),
                         "  by mode:             " + passRateByMode.sorted { $0.key < $1.key }.map { "\($0.key) \(pct($0.value))" }.joined(separator: ", ")]
            lines.append("")
            return lines.joined(separator: "\n")
        }
    }
}
