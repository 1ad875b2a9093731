import Foundation

/// One inference as the log keeps it: no prompt text unless the user opted in.
public struct InferenceEvent: Sendable, Codable, Equatable {
    public var timestamp: Date
    public var requestID: String
    /// What was asked: `generate`, `complete`, `repair`, ...
    public var kind: String
    /// The serving instance's name and the model it runs (file name and short hash).
    public var instance: String
    public var modelVersion: String
    public var promptSHA256: String
    /// At most 127 characters of the prompt, only when previews are enabled.
    public var promptPreview: String?
    public var promptTokens: Int
    public var completionTokens: Int
    public var latencyMs: Double
    public var confidence: ConfidenceMetrics?
    public var decision: GatingDecision?
    public var attempts: Int
    /// `clean`, `problems_remain`, `abstained` or nil when nothing was checked.
    public var checkOutcome: String?
    public var status: Status
    public var error: String?
    public var shadow: ShadowOutcome?
    /// Per-token figures, kept only when the token table is enabled.
    public var tokens: [TokenStat]?

    /// Whether the request produced an answer.
    public enum Status: String, Sendable, Codable { case success, error }

    /// One generated token's figures for the per-token table.
    public struct TokenStat: Sendable, Codable, Equatable {
        public var token: String
        public var logprob: Double
        public var entropy: Double
        public init(token: String, logprob: Double, entropy: Double) {
            self.token = token
            self.logprob = logprob
            self.entropy = entropy
        }
    }

    public init(requestID: String = UUID().uuidString.lowercased(), kind: String, instance: String, modelVersion: String, promptSHA256: String,
                promptPreview: String? = nil, promptTokens: Int = 0, completionTokens: Int = 0, latencyMs: Double = 0,
                confidence: ConfidenceMetrics? = nil, decision: GatingDecision? = nil, attempts: Int = 1, checkOutcome: String? = nil,
                status: Status = .success, error: String? = nil, timestamp: Date = Date()) {
        self.timestamp = timestamp
        self.requestID = requestID
        self.kind = kind
        self.instance = instance
        self.modelVersion = modelVersion
        self.promptSHA256 = promptSHA256
        self.promptPreview = promptPreview.map { String($0.prefix(127)) }
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
        self.latencyMs = latencyMs
        self.confidence = confidence
        self.decision = decision
        self.attempts = attempts
        self.checkOutcome = checkOutcome
        self.status = status
        self.error = error
    }

    /// Confidence as one number in 0...1: the geometric-mean token probability.
    public var confidenceScore: Double? { confidence.map { exp($0.avgLogprob) } }
}

/// How a shadow model did on the same request, after the primary answered.
public struct ShadowOutcome: Sendable, Codable, Equatable {
    public enum Status: String, Sendable, Codable { case success, error, timeout }
    public var instance: String
    public var status: Status
    public var error: String?
    public var latencyMs: Double?
    public var avgLogprob: Double?
    /// Shadow mean log-probability minus the primary's.
    public var logprobDiff: Double?
    /// Both programs fall in the same AST cluster (same modules and function signatures).
    public var sameCluster: Bool?
    /// The shadow's program passed every check.
    public var shadowClean: Bool?
    public var primaryClean: Bool?

    public init(instance: String, status: Status, error: String? = nil, latencyMs: Double? = nil, avgLogprob: Double? = nil,
                logprobDiff: Double? = nil, sameCluster: Bool? = nil, shadowClean: Bool? = nil, primaryClean: Bool? = nil) {
        self.instance = instance
        self.status = status
        self.error = error
        self.latencyMs = latencyMs
        self.avgLogprob = avgLogprob
        self.logprobDiff = logprobDiff
        self.sameCluster = sameCluster
        self.shadowClean = shadowClean
        self.primaryClean = primaryClean
    }
}
