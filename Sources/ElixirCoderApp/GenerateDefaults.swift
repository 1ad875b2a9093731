import ElixirCoderCore
import Engine
import Pipeline

extension GenerateOptions {
    /// Generate options with the config file's and environment's settings over the defaults;
    /// every front end starts from these, and its flags or request fields go on top.
    public init(config: Configuration) throws {
        self.init()
        sampling.apply(config)
        maxTokens = config.maxTokens ?? maxTokens
        repair = try RepairPolicy(config: config)
    }
}

extension SamplingParameters {
    /// Puts the config file's and environment's sampling settings over these; the generate
    /// options and the OpenAI API's defaults both start so.
    public mutating func apply(_ config: Configuration) {
        temperature = config.temperature ?? temperature
        topK = config.topK ?? topK
        topP = config.topP ?? topP
        minP = config.minP ?? minP
        seed = config.seed ?? seed
    }
}

extension RepairPolicy {
    /// Per-token repair from flag values (nil when not given) over `config`, which already holds
    /// the file and the LLM_* environment variables.
    public init(config: Configuration, mode: String? = nil, threshold: Float? = nil, maxAttemptsPerToken: Int? = nil, maxLiveRepairs: Int? = nil,
                serverMinP: Float? = nil, repeatHitsStopThreshold: Int? = nil) throws {
        self.init()
        if let text = mode ?? config.repairMode {
            guard let m = Mode(rawValue: text.lowercased()) else { throw ConfigurationError(message: "repair mode '\(text)' is not off, shadow or server") }
            self.mode = m
        }
        self.threshold = threshold ?? config.perTokenRepairThreshold ?? self.threshold
        self.maxAttemptsPerToken = maxAttemptsPerToken ?? config.maxAttemptsPerToken ?? self.maxAttemptsPerToken
        self.maxLiveRepairs = maxLiveRepairs ?? config.maxLiveRepairs ?? self.maxLiveRepairs
        self.serverMinP = serverMinP ?? config.serverMinP
        self.repeatHitsStopThreshold = repeatHitsStopThreshold ?? config.repeatHitsStopThreshold ?? self.repeatHitsStopThreshold
        guard (0...1).contains(self.threshold) else { throw ConfigurationError(message: "the per-token threshold must be between 0 and 1") }
        guard self.maxAttemptsPerToken >= 1, self.maxLiveRepairs >= 0, self.repeatHitsStopThreshold >= 1 else {
            throw ConfigurationError(message: "the attempts per token and the repetition stop must be at least 1, the live repairs at least 0")
        }
    }
}
