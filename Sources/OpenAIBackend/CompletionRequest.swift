/// What to ask a server for: a prompt to continue or a conversation to answer.
public struct CompletionRequest: Sendable, Equatable {
    /// One turn of a conversation.
    public struct Message: Sendable, Equatable {
        public var role: String
        public var content: String
        public init(role: String, content: String) {
            self.role = role
            self.content = content
        }
    }

    /// The text to continue or the messages to answer.
    public enum Input: Sendable, Equatable {
        /// Raw text, sent to `/v1/completions` (or llama.cpp's `/completion`).
        case prompt(String)
        /// A conversation, sent to `/v1/chat/completions`; the server applies its chat template.
        case chat([Message])
    }

    public var input: Input
    /// Overrides the configuration's model name.
    public var model: String?
    public var maxTokens: Int?
    public var temperature: Double?
    public var topP: Double?
    /// Not OpenAI's: llama.cpp, vLLM and Ollama accept it.
    public var topK: Int?
    /// Not OpenAI's: llama.cpp, vLLM and Ollama accept it.
    public var minP: Double?
    public var seed: UInt64?
    public var stop: [String]
    /// A GBNF grammar (llama.cpp's `grammar` field); other servers ignore it.
    public var grammar: String?
    /// Alternatives to report with each token; nil asks for no log-probabilities at all,
    /// 0 for the chosen token's only.
    public var topLogprobs: Int?
    public var frequencyPenalty: Double?
    public var presencePenalty: Double?

    public init(_ input: Input, model: String? = nil, maxTokens: Int? = nil, temperature: Double? = nil, topP: Double? = nil,
                topK: Int? = nil, minP: Double? = nil, seed: UInt64? = nil, stop: [String] = [], grammar: String? = nil,
                topLogprobs: Int? = nil, frequencyPenalty: Double? = nil, presencePenalty: Double? = nil) {
        self.input = input
        self.model = model
        self.maxTokens = maxTokens
        self.temperature = temperature
        self.topP = topP
        self.topK = topK
        self.minP = minP
        self.seed = seed
        self.stop = stop
        self.grammar = grammar
        self.topLogprobs = topLogprobs
        self.frequencyPenalty = frequencyPenalty
        self.presencePenalty = presencePenalty
    }
}
