/// A generated token with its log-probability and the most likely alternatives.
public struct CompletionToken: Sendable, Equatable {
    /// Another token the model could have chosen at the same position.
    public struct Alternative: Sendable, Equatable {
        public var token: String
        public var logprob: Double
        /// The token id, where the server reports it (llama.cpp does).
        public var id: Int?
        public init(token: String, logprob: Double, id: Int? = nil) {
            self.token = token
            self.logprob = logprob
            self.id = id
        }
    }

    public var token: String
    /// nil where the server gave none (the older shape reports `null` for echoed prompt tokens).
    public var logprob: Double?
    public var id: Int?
    /// The token's exact bytes, where the server reports them: a token may hold part of a UTF-8 character.
    public var bytes: [UInt8]?
    /// Best first.
    public var top: [Alternative]

    public init(token: String, logprob: Double?, id: Int? = nil, bytes: [UInt8]? = nil, top: [Alternative] = []) {
        self.token = token
        self.logprob = logprob
        self.id = id
        self.bytes = bytes
        self.top = top
    }
}

/// A finished completion: text, tokens, why it ended, token counts and timing.
public struct Completion: Sendable, Equatable {
    /// Why generation ended, as the server said it.
    public enum FinishReason: Sendable, Equatable {
        /// A stop sequence or the end-of-text token.
        case stop
        /// The token limit.
        case length
        /// Anything else the server reports (`content_filter`, `tool_calls`, ...).
        case other(String)

        /// Reads the names servers use, llama.cpp's native `eos`, `word` and `limit` included.
        public init(_ raw: String) {
            switch raw {
            case "stop", "eos", "word": self = .stop
            case "length", "limit": self = .length
            default: self = .other(raw)
            }
        }
    }

    /// Token counts the server reported.
    public struct Usage: Sendable, Equatable {
        public var promptTokens: Int
        public var completionTokens: Int
        public init(promptTokens: Int, completionTokens: Int) {
            self.promptTokens = promptTokens
            self.completionTokens = completionTokens
        }
    }

    /// Timing measured by the client.
    public struct Latency: Sendable, Equatable {
        /// From sending the request to the first token (streams) or to the whole response.
        public var firstToken: Duration
        public var total: Duration
        public init(firstToken: Duration, total: Duration) {
            self.firstToken = firstToken
            self.total = total
        }
    }

    public var text: String
    /// Empty unless log-probabilities were asked for (llama.cpp's native format always names them).
    public var tokens: [CompletionToken]
    public var finishReason: FinishReason?
    public var usage: Usage?
    public var model: String?
    public var id: String?
    public var latency: Latency

    public init(text: String, tokens: [CompletionToken] = [], finishReason: FinishReason? = nil, usage: Usage? = nil,
                model: String? = nil, id: String? = nil, latency: Latency = Latency(firstToken: .zero, total: .zero)) {
        self.text = text
        self.tokens = tokens
        self.finishReason = finishReason
        self.usage = usage
        self.model = model
        self.id = id
        self.latency = latency
    }
}

/// What a streamed completion reports, in order: deltas, then one `.finished`.
public enum StreamEvent: Sendable, Equatable {
    /// New text and the tokens that carried it (empty tokens when log-probabilities were not asked for).
    case delta(String, [CompletionToken])
    /// The whole completion, assembled from the deltas.
    case finished(Completion)
}
