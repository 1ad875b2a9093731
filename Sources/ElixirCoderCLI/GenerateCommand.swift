import ArgumentParser
import ElixirCoderCore
import Engine
import Checks
import Foundation
import Pipeline
import Serving

/// `elixir-coder generate`: a task in plain words to checked Elixir code.
struct GenerateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Generate Elixir code for a task: sample candidates, check them, repair, return the first clean one.",
        discussion: "The code goes to stdout; progress and a summary to stderr. Exit status 0 when the code is clean, 3 when problems remain (the best candidate is still printed)."
    )

    @Argument(help: "The task in plain words, or - to read it from standard input.") var task: String
    @Option(help: "A file of existing code the task refers to.") var context: String?
    @Option(help: "Candidates sampled per attempt.") var candidates = 5
    @Option(help: "Attempts at most (the first plus repairs).") var maxAttempts = 3
    @Option(help: "Tokens per candidate at most.") var maxTokens = 256
    @Option(help: "Sampling temperature.") var temperature: Float = 0.7
    @Option(help: "Random seed.") var seed: UInt64 = 0
    @Flag(help: "Show candidates' text on stderr while they are sampled.") var stream = false
    @Flag(help: "Do not let Elixir's parser vet sampled tokens (faster, far more syntax errors; see bench monitor).") var noMonitor = false
    @Flag(help: "Print the whole result as JSON.") var json = false
    @OptionGroup var modelOptions: ModelOptions

    func run() async throws {
        guard candidates >= 1, maxAttempts >= 1, maxTokens >= 1 else { throw ValidationError("--candidates, --max-attempts and --max-tokens must be at least 1") }
        let taskText = try readInput(task)
        let contextText = try context.map { path -> String in
            guard let s = try? String(contentsOfFile: path, encoding: .utf8) else { throw ValidationError("cannot read --context file \(path)") }
            return s
        }
        let config = try Configuration.load()
        let loaded = try modelOptions.load(config: config)
        let generator = try loaded.codeGenerator(kernels: modelOptions.kernels)
        defer { generator.instance.shutdown() }

        var options = GenerateOptions()
        options.candidates = candidates
        options.maxAttempts = maxAttempts
        options.maxTokens = maxTokens
        options.context = contextText
        options.sampling.temperature = temperature
        options.sampling.seed = seed
        options.monitor = !noMonitor
        let start = Date()
        var live: (@Sendable (Int, Int, String) -> Void)?
        if stream {
            live = { _, _, delta in FileHandle.standardError.write(Data(delta.utf8)) }
        }
        let report: @Sendable (String) -> Void = { Stderr.print($0) }
        let result = try await generator.generate(task: taskText, options: options, progress: report, onToken: live)
        let seconds = Date().timeIntervalSince(start)
        if json {
            try printJSON(result)
        } else {
            writeOut(result.code)
        }
        let summary = result.status == .clean
            ? "clean on attempt \(result.attempt) of \(result.attempts.count)"
            : "\(result.problems.count) problem(s) remain after \(result.attempts.count) attempt(s): " + result.problems.map { "line \($0.line): \($0.message)" }.joined(separator: "; ")
        Stderr.print(String(format: "%@ (%.1f s, %d candidates sampled)", summary, seconds, result.attempts.reduce(0) { $0 + $1.candidates.count }))
        if result.status != .clean { throw ExitCode(3) }
    }
}
