import Engine
import Tokenizer

/// What the pipeline needs from a model: the embedded instance or a remote server behind one seam.
///
/// Prompts are token ids from `tokenizer`; a remote backend sends their text.
public protocol InferenceBackend: AnyObject, Sendable {
    var name: String { get }
    var tokenizer: Tokenizer { get }
    /// Requests in flight, for least-loaded routing.
    var load: Int { get }
    /// Tokens a sequence may hold, prompt and answer together; nil when the backend does not say.
    var contextLength: Int? { get }
    /// Results in request order.
    func generate(_ requests: [GenerationRequest], processors: [(any LogitsProcessor)?]?) async throws -> [GenerationResult]
    /// One event stream per request.
    func stream(_ requests: [GenerationRequest], processors: [(any LogitsProcessor)?]?) -> [AsyncThrowingStream<GenerationEvent, Error>]
    func shutdown()
}

extension InferenceBackend {
    public var contextLength: Int? { nil }
    public func generate(_ requests: [GenerationRequest]) async throws -> [GenerationResult] { try await generate(requests, processors: nil) }
    public func stream(_ requests: [GenerationRequest]) -> [AsyncThrowingStream<GenerationEvent, Error>] { stream(requests, processors: nil) }
}

extension ModelInstance: InferenceBackend {
    public var name: String { settings.name }
    public var contextLength: Int? { model.config.contextLength }
}
