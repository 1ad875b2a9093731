import ArgumentParser
import CommandLineOptions
import Checks
import ElixirCoderApp
import ElixirCoderCore
import Engine
import Foundation
import Pipeline

/// `elixir-coder bench repair`: what per-token confidence repair costs and changes.
struct BenchRepairCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "repair",
        abstract: "Sample candidates for the task set with repair off, shadow and server (same prompts and seeds); print how often repair fires, its time cost, and the syntax-error rate and the share of tasks answered verified or compiled."
    )

    @Option(help: "Task set (JSON lines with id and task).") var tasks = "bench/tasks.jsonl"
    @Option(help: "Tasks to use.") var limit = 10
    @Option(help: "Candidates per task.") var candidates = 4
    @Option(help: "Tokens per candidate.") var maxTokens = 160
    @Flag(help: "Sample without the parser monitor, so the syntax-error rate shows repair's own effect.") var noMonitor = false
    @Flag(help: "Print JSON.") var json = false
    @OptionGroup var modelOptions: ModelOptions

    struct Row: Encodable {
        var mode: String
        var candidates = 0
        var tokens = 0
        var repairs = 0
        var repetitionStops = 0
        var syntaxErrors = 0
        var answeredTasks = 0
        var tasks = 0
        var seconds = 0.0
    }

    func run() async throws {
        let taskTexts = try TaskSet.tasks(tasks, limit: limit)
        let setup = try GenerationSetup.make(modelOptions: modelOptions, observability: nil)
        defer { setup.close() }
        guard let pool = setup.observed.primary.monitorPool else { throw ValidationError("the benchmark needs the Elixir checker") }
        var rows: [Row] = []
        for mode in RepairPolicy.Mode.allCases {
            var row = Row(mode: mode.rawValue)
            var o = GenerateOptions()
            o.candidates = candidates
            o.maxAttempts = 1
            o.maxTokens = maxTokens
            o.gating = nil
            o.monitor = !noMonitor
            o.repair.mode = mode
            let start = Date()
            for task in taskTexts {
                let r = try await setup.observed.primary.generate(task: task, options: o)
                row.tasks += 1
                if r.status.isAnswer { row.answeredTasks += 1 }
                for c in r.attempts.flatMap(\.candidates) {
                    row.candidates += 1
                    row.tokens += c.tokenCount
                    row.repairs += c.repairs
                    if c.repetitionHits >= o.repair.repeatHitsStopThreshold { row.repetitionStops += 1 }
                    // Judged as the loop judges a candidate: after closing and formatting.
                    let code = await setup.observed.primary.checker.normalize(c.code)
                    if try await pool.syntax(code).status != .ok { row.syntaxErrors += 1 }
                }
            }
            row.seconds = Date().timeIntervalSince(start)
            rows.append(row)
            Stderr.print("\(mode.rawValue): done in \(String(format: "%.1f", row.seconds)) s")
        }
        if json { return try printJSON(rows) }
        let base = rows.first { $0.mode == "off" }!
        print("\(taskTexts.count) tasks x \(candidates) candidates, \(maxTokens) tokens at most, monitor \(noMonitor ? "off" : "on")")
        for r in rows {
            print(String(format: "%-7@ repairs %4d (%.1f per 100 tokens)  syntax errors %5.1f%%  verified or compiled %2d/%d  repetition stops %d  time %6.1f s (%+.0f%%)",
                         r.mode, r.repairs, Double(r.repairs) / Double(max(1, r.tokens)) * 100, Double(r.syntaxErrors) / Double(max(1, r.candidates)) * 100,
                         r.answeredTasks, r.tasks, r.repetitionStops, r.seconds, (r.seconds / max(0.001, base.seconds) - 1) * 100))
        }
    }
}
