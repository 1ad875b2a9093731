import ArgumentParser
import CommandLineOptions
import Checks
import ElixirCoderApp
import ElixirCoderCore
import Engine
import Foundation
import Pipeline
import Serving

/// `elixir-coder bench monitor`: syntax-error rate of sampled candidates with and without the line monitor.
struct BenchMonitorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "monitor",
        abstract: "Sample candidates for the task set with and without monitor-guided decoding (same prompts and seeds) and judge each with Elixir's parser."
    )

    @Option(help: "Task set (JSON lines with id and task).") var tasks = "bench/tasks.jsonl"
    @Option(help: "Tasks to use.") var limit = 10
    @Option(help: "Candidates per task.") var candidates = 4
    @Option(help: "Tokens per candidate.") var maxTokens = 160
    @OptionGroup var modelOptions: ModelOptions

    func run() async throws {
        let taskTexts = try TaskSet.tasks(tasks, limit: limit)
        let instance = try modelOptions.settings(config: try Configuration.load()).load().instance(name: "bench")
        defer { instance.shutdown() }
        let pool = try CheckerPool(size: 2)
        let generator = CodeGenerator(instance: instance, templates: try PromptTemplates(), checker: ElixirCandidateChecker(pool: pool))
        var rows: [(String, Int, Int, Int, Double)] = []
        for monitored in [false, true] {
            var total = 0, broken = 0, rollbacks = 0, rejected = 0, incomplete = 0
            let start = Date()
            for (t, task) in taskTexts.enumerated() {
                let module = CodeGenerator.moduleName(for: task)
                let ids = instance.tokenizer.encode(generator.firstPrompt(task: task, context: nil), parseSpecial: true)
                let monitor: (any PrefixMonitor)? = monitored ? SyntaxMonitor(pool: pool, prefix: CodeGenerator.codePrefix(module: module)) : nil
                let requests = (0..<candidates).map { i -> GenerationRequest in
                    var s = GenerateOptions().sampling
                    s.seed = UInt64(t * 100 + i)
                    return GenerationRequest(prompt: ids, maxTokens: maxTokens, sampling: s, stop: ["```"], monitor: monitor)
                }
                for r in try await instance.generate(requests) {
                    total += 1
                    rollbacks += r.rollbacks
                    rejected += r.rejectedTokens
                    var code = CodeGenerator.extractCode(r.text, module: module)
                    var status = try await pool.syntax(code).status
                    if status == .incomplete { incomplete += 1 }
                    // Both arms get the same post-hoc closing, so the comparison is fair.
                    if status == .incomplete, let closed = try await pool.close(code) {
                        code = closed
                        status = try await pool.syntax(code).status
                    }
                    if status != .ok { broken += 1 }
                }
            }
            print("\(monitored ? "monitor" : "plain"): \(incomplete) programs were left open at the token limit and closed by the parser's hints")
            rows.append((monitored ? "with monitor" : "unconstrained", total, broken, rollbacks + rejected, Date().timeIntervalSince(start)))
        }
        print("elixir-coder bench monitor: \(taskTexts.count) tasks x \(candidates) candidates, \(maxTokens) tokens, same seeds")
        for (name, total, broken, rollbacks, seconds) in rows {
            print(String(format: "%-14@ syntax errors %3d / %3d (%.0f%%), rejections+rollbacks %4d, %.1f s", name, broken, total, 100 * Double(broken) / Double(max(total, 1)), rollbacks, seconds))
        }
        let base = Double(rows[0].2) / Double(max(rows[0].1, 1)), with = Double(rows[1].2) / Double(max(rows[1].1, 1))
        print(String(format: "reduction of the syntax-error rate: %.0f%%", base > 0 ? 100 * (base - with) / base : 0))
    }
}
