import Foundation

/// Where an OpenAI-compatible server is and how to talk to it.
public struct OpenAIConfiguration: Sendable {
    /// Which request format prompt completions use.
    public enum Dialect: String, Sendable, Codable {
        /// `/v1/completions`, understood by OpenAI, vLLM, Ollama and llama.cpp.
        case openAI
        /// llama.cpp's native `/completion`: token ids and probabilities come back with every token.
        case llamaCpp
    }

    /// The server's root, with or without a trailing `/v1` (`http://127.0.0.1:8080`).
    public var baseURL: URL
    /// Sent as `model`; servers that hold one model ignore it.
    public var model: String?
    /// The environment variable holding the API key, sent as `Authorization: Bearer`.
    public var apiKeyVariable: String?
    public var dialect: Dialect
    /// Longest wait for the next bytes of a response, in whole seconds (at least 1).
    public var timeout: Duration
    /// Retries after a refused or dropped connection, a 5xx or a 429.
    public var maxRetries: Int
    /// The first retry waits this long; each later one twice as long, up to `maxRetryDelay`.
    public var retryDelay: Duration
    public var maxRetryDelay: Duration
    /// Where `apiKeyVariable` is looked up; the process environment unless a test replaces it.
    public var environment: [String: String]

    public init(baseURL: URL, model: String? = nil, apiKeyVariable: String? = nil, dialect: Dialect = .openAI,
                timeout: Duration = .seconds(600), maxRetries: Int = 3, retryDelay: Duration = .milliseconds(500),
                maxRetryDelay: Duration = .seconds(8), environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.baseURL = baseURL
        self.model = model
        self.apiKeyVariable = apiKeyVariable
        self.dialect = dialect
        self.timeout = timeout
        self.maxRetries = maxRetries
        self.retryDelay = retryDelay
        self.maxRetryDelay = maxRetryDelay
        self.environment = environment
    }

    /// The URL of an endpoint below `/v1` (`completions`), tolerating a base that already ends in `/v1`.
    func url(v1 endpoint: String) -> URL {
        let base = baseURL.path.hasSuffix("/v1") || baseURL.path.hasSuffix("/v1/") ? baseURL : baseURL.appendingPathComponent("v1")
        return base.appendingPathComponent(endpoint)
    }

    /// The URL of a native llama.cpp endpoint at the server's root (`completion`).
    func url(root endpoint: String) -> URL {
        var base = baseURL
        if base.path.hasSuffix("/v1") || base.path.hasSuffix("/v1/") { base = base.deletingLastPathComponent() }
        return base.appendingPathComponent(endpoint)
    }
}
