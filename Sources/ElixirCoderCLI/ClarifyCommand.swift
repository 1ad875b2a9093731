import ArgumentParser
import CommandLineOptions
import Checks
import Clarification
import ElixirCoderApp
import ElixirCoderCore
import Foundation
import Pipeline

/// `elixir-coder clarify "TASK"`: is the task ambiguous, and what should be asked.
struct ClarifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clarify",
        abstract: "Say whether a task is ambiguous and what to ask: a classifier over the model's embedding of the task decides, and the questions offer the real Elixir choices of the kind in doubt.",
        discussion: "Prints the verdict and why (the learned signal's P(ambiguous), the word list, and with --samples N the spread of the samples the compiler accepts), and the questions ranked by expected value of information, each with numbered options. With --samples, also the semantic entropy and the clusters. Exit 0 either way."
    )

    @Argument(help: "The task, or - for standard input.") var task: String
    @Flag(help: "Print JSON.") var json = false
    @OptionGroup var clarify: ClarifyOptions
    @OptionGroup var modelOptions: ModelOptions

    func run() async throws {
        let text = try readInput(task)
        let setup = try GenerationSetup.make(modelOptions: modelOptions, observability: try ObservabilityOptions.parse(["--log-level", "off"]))
        defer { setup.close() }
        let analysis = try await setup.clarifier(clarify.settings).analyze(task: text, progress: { Stderr.print($0) })
        if json { return try printJSON(analysis) }
        print(Self.describe(analysis))
    }

    static func describe(_ a: ClarifyAnalysis) -> String {
        var out = "verdict: \(a.verdict.rawValue) (\(a.reason))\n"
        if !a.samples.isEmpty {
            out += String(format: "samples: entropy %.2f nats, likelihood-weighted %.2f; %d cluster(s) from %d/%d parsed samples%@\n", a.entropy, a.likelihoodEntropy,
                          a.clusters.count, a.samples.filter(\.parsed).count, a.samples.count, a.compiledSamples.map { ", \($0) compiled" } ?? "")
        }
        if let t = a.ambiguity { out += "ambiguity: \(t.rawValue)\n" }
        if a.verdict == .proceed { out += String(format: "confidence: %.0f%%\n", a.confidence * 100) }
        if !a.clusters.isEmpty { out += "clusters:\n" }
        for (i, c) in a.clusters.enumerated() {
            let what = c.distinguishing.sorted { $0.key < $1.key }.map { "\($0.key) [\($0.value.joined(separator: ", "))]" }.joined(separator: "; ")
            out += String(format: "  #%d  %d sample(s), %.0f%% (%.0f%% by likelihood)  %@\n", i + 1, c.size, c.frequency * 100, c.likelihood * 100,
                          what.isEmpty ? "(no distinguishing facts)" : what)
        }
        if !a.questions.isEmpty { out += "questions, best first (expected entropy drop, accuracy gain):\n" }
        for (n, q) in a.questions.enumerated() {
            out += String(format: "  %d. [%@, %@, %.2f, %+.2f] %@\n", n + 1, q.type.rawValue, q.origin, q.expectedEntropyDrop, q.expectedAccuracyGain, q.text)
            for o in q.options { out += String(format: "       %d) %@  (%.0f%%)\n", o.label, o.text, o.probability * 100) }
        }
        return out
    }
}
