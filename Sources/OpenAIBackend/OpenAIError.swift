import Foundation

/// Why a request to an OpenAI-compatible server failed, with what to do about it.
public struct OpenAIError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Code: String, Sendable {
        /// The server could not be reached (refused, unknown host, dropped connection).
        case connectionFailed
        /// No bytes arrived within the configured timeout.
        case timedOut
        /// The server answered with a status other than 2xx.
        case httpStatus
        /// The response is not the JSON or SSE the API describes.
        case malformedResponse
        /// The server reported an error inside a stream.
        case serverError
        /// The configuration cannot work (a named API key variable that is unset, a bad URL).
        case invalidConfiguration
    }

    public let code: Code
    public let message: String
    /// The request's URL.
    public let url: URL?
    /// The HTTP status, for `httpStatus`.
    public let status: Int?
    /// The server's response body, for `httpStatus` and `serverError`.
    public let body: String?
    /// Seconds the server asked to wait (`Retry-After`), honoured by retries.
    var retryAfter: Double?

    public init(_ code: Code, _ message: String, url: URL? = nil, status: Int? = nil, body: String? = nil) {
        self.code = code
        self.message = message
        self.url = url
        self.status = status
        self.body = body
    }

    public var description: String { message }

    /// Worth another attempt: the server may come up or recover.
    var isRetryable: Bool {
        switch code {
        // A timeout is not retried: the server may still be generating, and a retry would double the wait.
        case .connectionFailed: true
        case .httpStatus: status.map { $0 == 429 || $0 >= 500 } ?? false
        default: false
        }
    }
}
