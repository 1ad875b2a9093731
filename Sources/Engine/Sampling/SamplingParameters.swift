/// How the next token is chosen. Defaults follow llama.cpp's.
public struct SamplingParameters: Sendable, Codable, Equatable {
    /// 0 means greedy (argmax).
    public var temperature: Float = 0.8
    /// 0 disables top-k.
    public var topK: Int = 40
    public var topP: Float = 0.95
    public var minP: Float = 0.05
    /// Divides positive (multiplies negative) logits of recently seen tokens; 1 disables.
    public var repetitionPenalty: Float = 1.0
    /// Subtracted once per earlier occurrence in the window.
    public var frequencyPenalty: Float = 0
    /// Subtracted once if the token occurred in the window.
    public var presencePenalty: Float = 0
    /// How many recent tokens the penalties look at.
    public var penaltyWindow: Int = 64
    public var seed: UInt64 = 0
    /// Alternatives reported with each token.
    public var topLogprobs: Int = 0

    public init() {}

    /// Greedy decoding, as llama.cpp does at temperature 0.
    public static var greedy: SamplingParameters {
        var p = SamplingParameters()
        p.temperature = 0
        return p
    }
}

/// A token and its log-probability under the model.
public struct TokenLogprob: Sendable, Codable, Equatable {
    public let id: Int
    public let logprob: Float

    public init(id: Int, logprob: Float) {
        self.id = id
        self.logprob = logprob
    }
}

/// One generated token with its confidence figures.
public struct GeneratedToken: Sendable, Codable, Equatable {
    public let id: Int
    /// log-softmax of the raw logits, before masks and penalties (as llama.cpp reports it).
    public let logprob: Float
    /// Entropy in nats of the model's full next-token distribution.
    public let entropy: Float
    /// Most likely alternatives, best first (`topLogprobs` of them).
    public let top: [TokenLogprob]

    public init(id: Int, logprob: Float, entropy: Float, top: [TokenLogprob]) {
        self.id = id
        self.logprob = logprob
        self.entropy = entropy
        self.top = top
    }
}
