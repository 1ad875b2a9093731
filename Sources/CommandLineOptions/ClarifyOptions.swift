import ArgumentParser
import Clarification

/// Flags of the ambiguity detector, shared by `clarify`, `generate --clarify` and `bench clarify`;
/// what is not given keeps `ClarifySettings`' default.
public struct ClarifyOptions: ParsableArguments, Sendable {
    public init() {}

    @Option(help: "Programs to sample for the spread signal, 0 for none (default \(ClarifySettings().samples)).") public var samples: Int?
    @Option(help: "Ask when the semantic entropy (nats) is above this (default \(ClarifySettings().entropyThreshold)).") public var entropyThreshold: Double?
    @Option(help: "Ask when there are at least this many clusters (default \(ClarifySettings().clusterThreshold)).") public var clusterThreshold: Int?
    @Option(help: "Programs closer than this weighted Jaccard distance share a cluster (default \(ClarifySettings().linkageThreshold)).") public var linkage: Double?
    @Flag(help: "Do not ask the model for a question of its own.") public var noModelQuestions = false
    @Flag(help: "Run each sample on the task's iex> examples (separate process, timeout, no network) and cluster by what they return too. This executes generated code.") public var runExamples = false
    @Flag(help: "Ignore the classifier over the model's embedding of the task (the learned signal); decide by the samples and the word list.") public var noLearnedSignal = false
    @Flag(help: "Count samples that parse but do not compile in the spread (by default only samples the sandboxed compiler accepts count, called on probe inputs).") public var countUncompiled = false

    public var settings: ClarifySettings {
        var s = ClarifySettings()
        s.samples = samples ?? s.samples
        s.entropyThreshold = entropyThreshold ?? s.entropyThreshold
        s.clusterThreshold = clusterThreshold ?? s.clusterThreshold
        s.linkageThreshold = linkage ?? s.linkageThreshold
        s.modelQuestions = !noModelQuestions
        s.executeExamples = runExamples
        s.useLearnedSignal = !noLearnedSignal
        s.compiledOnly = !countUncompiled
        return s
    }

    public func validate() throws {
        guard settings.samples == 0 || settings.samples >= 2 else { throw ValidationError("--samples must be 0 (no sampling) or at least 2") }
    }
}
