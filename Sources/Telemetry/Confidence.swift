import Engine
import Foundation

/// Uncertainty of one generation, from its tokens' log-probabilities.
public struct ConfidenceMetrics: Sendable, Codable, Equatable {
    /// Where the entropy figure comes from.
    public enum EntropySource: String, Sendable, Codable {
        /// The backend's whole next-token distribution (the embedded engine).
        case fullDistribution = "full_distribution"
        /// Only the top-k alternatives a remote backend returned: a lower bound.
        case topK = "top_k"
    }

    /// One of the least confident tokens.
    public struct Token: Sendable, Codable, Equatable {
        public var position: Int
        public var text: String
        public var probability: Double

        public init(position: Int, text: String, probability: Double) {
            self.position = position
            self.text = text
            self.probability = probability
        }
    }

    /// Mean natural-log probability of the generated tokens.
    public var avgLogprob: Double
    /// Mean per-token entropy in nats.
    public var entropy: Double
    public var entropySource: EntropySource
    /// Mean probability of the most likely token at each step: low when the model never knew what came next.
    public var top1Probability: Double
    public var tokenCount: Int
    /// The lowest-probability sampled tokens, least confident first.
    public var lowest: [Token]

    public init(avgLogprob: Double, entropy: Double, entropySource: EntropySource, top1Probability: Double, tokenCount: Int, lowest: [Token]) {
        self.avgLogprob = avgLogprob
        self.entropy = entropy
        self.entropySource = entropySource
        self.top1Probability = top1Probability
        self.tokenCount = tokenCount
        self.lowest = lowest
    }

    /// - Parameter text: the text of a token id, for the `lowest` list.
    public init(tokens: [GeneratedToken], source: EntropySource = .fullDistribution, lowestCount: Int = 5, text: (Int) -> String = { "#\($0)" }) {
        tokenCount = tokens.count
        entropySource = source
        guard !tokens.isEmpty else {
            avgLogprob = 0
            entropy = 0
            top1Probability = 1
            lowest = []
            return
        }
        let n = Double(tokens.count)
        avgLogprob = tokens.reduce(0) { $0 + Double($1.logprob) } / n
        switch source {
        case .fullDistribution:
            entropy = tokens.reduce(0) { $0 + Double($1.entropy) } / n
        case .topK:
            entropy = tokens.reduce(0) { $0 + Self.entropy(ofTop: $1.top.map { Double($0.logprob) }) } / n
        }
        // Without alternatives, the sampled token is the best evidence of the top-1 mass.
        top1Probability = tokens.reduce(0) { $0 + exp(Double($1.top.first?.logprob ?? $1.logprob)) } / n
        lowest = tokens.enumerated()
            .sorted { $0.element.logprob < $1.element.logprob }
            .prefix(lowestCount)
            .map { Token(position: $0.offset, text: text($0.element.id), probability: exp(Double($0.element.logprob))) }
    }

    /// Entropy of the renormalized top-k alternatives.
    static func entropy(ofTop logprobs: [Double]) -> Double {
        let mass = logprobs.reduce(0) { $0 + exp($1) }
        guard mass > 0 else { return 0 }
        return -logprobs.reduce(0) { acc, lp in
            let p = exp(lp) / mass
            return acc + (p > 0 ? p * log(p) : 0)
        }
    }
}

/// What the pipeline does with a generation, given how confident the model was.
public enum GatingDecision: String, Sendable, Codable, CaseIterable {
    /// Confident enough: answer.
    case proceed
    /// Unsure on average: run a self-review pass before answering.
    case reflect
    /// Spread-out distributions: add retrieved passages and regenerate.
    case retrieve
    /// Guessing: ask for clarification instead of answering with code.
    case abstain
}

/// Thresholds of the gating decision (defaults from the logprob-gating design).
public struct GatingThresholds: Sendable, Codable, Equatable {
    /// Reflect when the mean log-probability is below this.
    public var reflectBelowAvgLogprob = -1.5
    /// Retrieve when the mean entropy (nats) is above this.
    public var retrieveAboveEntropy = 2.5
    /// Abstain when the mean top-1 probability is below this.
    public var abstainBelowTop1 = 0.20

    public init() {}

    /// The design's rule order: the first condition that holds wins.
    public func decide(_ m: ConfidenceMetrics) -> GatingDecision {
        guard m.tokenCount > 0 else { return .proceed }
        if m.avgLogprob < reflectBelowAvgLogprob { return .reflect }
        if m.entropy > retrieveAboveEntropy { return .retrieve }
        if m.top1Probability < abstainBelowTop1 { return .abstain }
        return .proceed
    }
}
