import ArgumentParser
import Clarification

/// Flags of the ambiguity detector, shared by `clarify`, `generate --clarify` and `bench clarify`.
public struct ClarifyOptions: ParsableArguments, Sendable {
    public init() {}

    @Option(help: "Programs to sample.") public var samples = 5
    @Option(help: "Ask when the semantic entropy (nats) is above this.") public var entropyThreshold = 0.5
    @Option(help: "Ask when there are at least this many clusters.") public var clusterThreshold = 3
    @Option(help: "Programs closer than this weighted Jaccard distance share a cluster.") public var linkage = 0.3
    @Flag(help: "Do not ask the model for a question of its own.") public var noModelQuestions = false
    @Flag(help: "Run each sample on the task's iex> examples (separate process, timeout, no network) and cluster by what they return too. This executes generated code.") public var runExamples = false

    public var settings: ClarifySettings {
        var s = ClarifySettings()
        s.samples = samples
        s.entropyThreshold = entropyThreshold
        s.clusterThreshold = clusterThreshold
        s.linkageThreshold = linkage
        s.modelQuestions = !noModelQuestions
        s.executeExamples = runExamples
        return s
    }

    public func validate() throws {
        guard samples >= 2 else { throw ValidationError("--samples must be at least 2") }
    }
}
