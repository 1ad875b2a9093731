/// What to generate for one sequence.
public struct GenerationRequest: Sendable {
    public var prompt: [Int]
    public var maxTokens: Int
    public var sampling: SamplingParameters
    /// Generation ends before the first occurrence of any of these strings.
    public var stop: [String]
    /// Judges the text at each line end; a dead prefix is rolled back to the previous line end.
    public var monitor: (any PrefixMonitor)?
    /// Rollbacks allowed before the monitor is ignored for this sequence.
    public var maxRollbacks: Int
    /// Tokens the monitor may reject at one position before the next draw is taken anyway.
    public var maxRejectionsPerToken = 6
    /// The monitor vets every draw (a parser round trip per token). Off, it judges only line
    /// ends and the end of the text, which is enough when a grammar already masks the logits.
    public var monitorEveryDraw = true
    /// Per-token confidence repair and the anti-loop guard.
    public var repair = RepairPolicy()
    /// A GBNF grammar for backends that constrain on their side (llama.cpp servers) instead of through a logits processor.
    public var gbnf: String?
    /// Tokens that may not be the first one generated (the embedded engine only): in stub mode,
    /// those that would leave the function's body empty.
    public var bannedAtStart: Set<Int> = []

    public init(prompt: [Int], maxTokens: Int = 128, sampling: SamplingParameters = SamplingParameters(), stop: [String] = [],
                monitor: (any PrefixMonitor)? = nil, maxRollbacks: Int = 8) {
        self.prompt = prompt
        self.maxTokens = maxTokens
        self.sampling = sampling
        self.stop = stop
        self.monitor = monitor
        self.maxRollbacks = maxRollbacks
    }
}

/// What a monitor says about the text generated so far.
public enum PrefixVerdict: Sendable, Equatable {
    /// It can still become a valid program.
    case viable
    /// No continuation can fix it (for example a hard syntax error).
    case dead(String)
}

/// Judges generated text at semantic boundaries (line ends). Backend-neutral: it sees
/// only text, so it works where logits cannot be masked. Called from the decode loop.
public protocol PrefixMonitor: Sendable {
    /// - Parameter final: the generation would end here, so the text must be complete.
    func verdict(for generated: String, final: Bool) -> PrefixVerdict
}

/// Why a generation ended.
public enum FinishReason: String, Sendable, Codable {
    /// An end-of-text token.
    case endOfText = "eos"
    /// A stop sequence.
    case stop
    /// The token budget or the context window.
    case length
    /// The logits processor reported the output complete (e.g. a finished program).
    case complete
    /// The caller asked to stop.
    case cancelled
    /// The anti-loop guard saw the text repeat too often.
    case repetition
    /// The forward pass gave NaN or +infinity logits: the weights are broken, and no token drawn
    /// from them means anything.
    case invalidLogits = "invalid_logits"
}

/// The outcome of one request.
public struct GenerationResult: Sendable {
    public var tokens: [GeneratedToken]
    /// The generated text, cut before a stop sequence.
    public var text: String
    public var finishReason: FinishReason
    public var promptTokens: Int
    /// Times the monitor rolled this sequence back.
    public var rollbacks: Int = 0
    /// Sampled tokens the monitor rejected (each was replaced by another draw).
    public var rejectedTokens: Int = 0
    /// Low-confidence tokens replaced by the repair policy.
    public var repairs: [TokenRepair] = []
    /// Times the anti-loop guard saw a repetition.
    public var repetitionHits: Int = 0
    /// The tokens' entropies come from the top alternatives a server returned, not the whole distribution.
    public var alternativesOnly = false

    public init(tokens: [GeneratedToken], text: String, finishReason: FinishReason, promptTokens: Int) {
        self.tokens = tokens
        self.text = text
        self.finishReason = finishReason
        self.promptTokens = promptTokens
    }

    /// Mean log-probability of the generated tokens (0 when none).
    public var meanLogprob: Float {
        tokens.isEmpty ? 0 : tokens.map(\.logprob).reduce(0, +) / Float(tokens.count)
    }
}

/// What a caller may do after seeing a token.
public enum GenerationControl: Sendable {
    case proceed
    case stop
}
