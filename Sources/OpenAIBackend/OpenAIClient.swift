import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Logging

/// A client for servers that speak the OpenAI API: llama.cpp's `llama-server`, vLLM, Ollama,
/// hosted services, and `elixir-coder serve --http`.
public struct OpenAIClient: Sendable {
    public let configuration: OpenAIConfiguration
    private let logger: Logger

    /// - Parameter logger: where retries are reported.
    public init(configuration: OpenAIConfiguration, logger: Logger = Logger(label: "elixir-coder.openai")) {
        self.configuration = configuration
        self.logger = logger
    }

    /// Runs a request to the end and returns the whole completion.
    ///
    /// Refused or dropped connections, 5xx and 429 answers are retried with exponential backoff.
    /// - Throws: `OpenAIError` naming the URL, the status and the server's message, or the missing field.
    public func complete(_ request: CompletionRequest) async throws -> Completion {
        let start = ContinuousClock.now
        let (urlRequest, format) = try prepare(request, stream: false)
        let url = urlRequest.url
        let (chunk, firstByte): (DecodedChunk, ContinuousClock.Instant) = try await withRetries(url: url) {
            var response = try await HTTPExchange.send(urlRequest, timeout: configuration.timeout)
            let firstByte = ContinuousClock.now
            let body = try await response.readAll()
            try Self.check(response, body: body, url: url)
            let root: JSONNode
            do { root = try JSONNode.parse(body) } catch {
                throw OpenAIError(.malformedResponse, "the response from \(url?.absoluteString ?? "the server") is not valid JSON (\(Self.excerpt(body)))", url: url, body: String(decoding: body, as: UTF8.self))
            }
            do {
                return (try ResponseDecoder.decode(root, format: format, streaming: false, topLogprobs: request.topLogprobs), firstByte)
            } catch {
                throw Self.malformed(error, url: url, body: body)
            }
        }
        let end = ContinuousClock.now
        return Completion(text: chunk.text, tokens: chunk.tokens, finishReason: chunk.finishReason, usage: chunk.usage,
                          model: chunk.model, id: chunk.id, latency: .init(firstToken: firstByte - start, total: end - start))
    }

    /// Streams a request over server-sent events: `.delta` events as tokens arrive, then `.finished`.
    ///
    /// Connecting is retried as in `complete(_:)`; once events have flowed a failure ends the stream,
    /// since repeating the request would repeat its text. Cancelling the consumer closes the connection.
    public func stream(_ request: CompletionRequest) -> AsyncThrowingStream<StreamEvent, Error> {
        let (events, continuation) = AsyncThrowingStream<StreamEvent, Error>.makeStream()
        let task = Task {
            do {
                try await runStream(request, into: continuation)
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        continuation.onTermination = { _ in task.cancel() }
        return events
    }

    private func runStream(_ request: CompletionRequest, into continuation: AsyncThrowingStream<StreamEvent, Error>.Continuation) async throws {
        let start = ContinuousClock.now
        let (urlRequest, format) = try prepare(request, stream: true)
        let url = urlRequest.url
        var response = try await withRetries(url: url) {
            var response = try await HTTPExchange.send(urlRequest, timeout: configuration.timeout)
            if !(200..<300).contains(response.status) {
                try Self.check(response, body: try await response.readAll(), url: url)
            }
            return response
        }
        var parser = ServerSentEventParser()
        var total = Completion(text: "")
        var firstToken: ContinuousClock.Instant?
        var sawEvent = false

        // Returns true at the end of the stream (`[DONE]`, or llama.cpp's last chunk).
        func handle(_ event: ServerSentEventParser.Event) throws -> Bool {
            sawEvent = true
            if event.isError || event.event == "error" {
                throw OpenAIError(.serverError, "\(url?.absoluteString ?? "the server") reported an error in the stream: \(ResponseDecoder.errorMessage(Data(event.data.utf8)) ?? event.data)",
                                  url: url, body: event.data)
            }
            if event.data == "[DONE]" { return true }
            let data = Data(event.data.utf8)
            let root: JSONNode
            do { root = try JSONNode.parse(data) } catch {
                throw OpenAIError(.malformedResponse, "an event from \(url?.absoluteString ?? "the server") is not valid JSON (\(Self.excerpt(data)))", url: url, body: event.data)
            }
            if root["error"].exists {
                throw OpenAIError(.serverError, "\(url?.absoluteString ?? "the server") reported an error in the stream: \(ResponseDecoder.errorMessage(data) ?? event.data)",
                                  url: url, body: event.data)
            }
            let chunk: DecodedChunk
            do { chunk = try ResponseDecoder.decode(root, format: format, streaming: true, topLogprobs: request.topLogprobs) } catch {
                throw Self.malformed(error, url: url, body: data, what: "an event")
            }
            if !chunk.text.isEmpty || !chunk.tokens.isEmpty {
                if firstToken == nil { firstToken = .now }
                total.text += chunk.text
                total.tokens += chunk.tokens
                continuation.yield(.delta(chunk.text, chunk.tokens))
            }
            total.finishReason = chunk.finishReason ?? total.finishReason
            total.usage = chunk.usage ?? total.usage
            total.model = total.model ?? chunk.model
            total.id = total.id ?? chunk.id
            return chunk.isLast
        }

        var done = false
        reading: while let bytes = try await response.next() {
            for e in parser.append(bytes) where try handle(e) {
                done = true
                break reading
            }
        }
        if !done, let e = parser.finish() { _ = try handle(e) }
        guard sawEvent else {
            throw OpenAIError(.malformedResponse, "\(url?.absoluteString ?? "the server") answered the stream without any server-sent events", url: url)
        }
        let end = ContinuousClock.now
        total.latency = .init(firstToken: (firstToken ?? end) - start, total: end - start)
        continuation.yield(.finished(total))
    }

    /// The URL request and the response format to expect.
    private func prepare(_ request: CompletionRequest, stream: Bool) throws -> (URLRequest, WireFormat) {
        let (url, body) = request.wire(configuration, stream: stream)
        var r = URLRequest(url: url)
        r.httpMethod = "POST"
        r.httpBody = encodeJSON(body)
        r.setValue("application/json", forHTTPHeaderField: "Content-Type")
        r.setValue(stream ? "text/event-stream" : "application/json", forHTTPHeaderField: "Accept")
        if let name = configuration.apiKeyVariable {
            guard let key = configuration.environment[name], !key.isEmpty else {
                throw OpenAIError(.invalidConfiguration, "the API key variable \(name) named in the configuration is not set; export it or remove the key variable from the configuration", url: url)
            }
            r.setValue("Bearer \(key)", forHTTPHeaderField: "Authorization")
        }
        return (r, request.format(configuration))
    }

    /// Runs `attempt` again after retryable failures, waiting twice as long each time.
    private func withRetries<T>(url: URL?, _ attempt: () async throws -> T) async throws -> T {
        var n = 0
        while true {
            do {
                return try await attempt()
            } catch let e as OpenAIError where e.isRetryable {
                guard n < configuration.maxRetries else {
                    guard n > 0 else { throw e }
                    throw OpenAIError(e.code, "\(e.message) (gave up after \(n + 1) attempts)", url: e.url, status: e.status, body: e.body)
                }
                var delay = configuration.retryDelay * (1 << min(n, 20))
                if let after = e.retryAfter { delay = max(delay, .milliseconds(Int(after * 1000))) }
                delay = min(delay, configuration.maxRetryDelay)
                logger.warning("retrying in \(delay) (attempt \(n + 2) of \(configuration.maxRetries + 1)): \(e.message)")
                try await Task.sleep(for: delay)
                n += 1
            }
        }
    }

    /// Throws unless the status is 2xx, with the server's message.
    private static func check(_ response: HTTPExchange.Response, body: Data, url: URL?) throws {
        guard !(200..<300).contains(response.status) else { return }
        let text = String(decoding: body, as: UTF8.self)
        let said = ResponseDecoder.errorMessage(body) ?? excerpt(body)
        var e = OpenAIError(.httpStatus, "POST \(url?.absoluteString ?? "") answered HTTP \(response.status) \(HTTPURLResponse.localizedString(forStatusCode: response.status)): \(said)",
                            url: url, status: response.status, body: text)
        e.retryAfter = response.retryAfter
        throw e
    }

    private static func malformed(_ error: Error, url: URL?, body: Data, what: String = "the response") -> OpenAIError {
        OpenAIError(.malformedResponse, "\(what) from \(url?.absoluteString ?? "the server") does not have the expected shape: \(error)",
                    url: url, body: String(decoding: body, as: UTF8.self))
    }

    /// The start of a body, for messages.
    static func excerpt(_ body: Data) -> String {
        if body.isEmpty { return "an empty body" }
        let s = String(decoding: body.prefix(300), as: UTF8.self)
        return body.count > 300 ? "\"\(s)...\"" : "\"\(s)\""
    }
}
