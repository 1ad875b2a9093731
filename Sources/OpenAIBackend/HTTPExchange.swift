import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// One HTTP request whose response arrives piece by piece (libcurl underneath, through
/// FoundationNetworking). `URLSession.bytes(for:)` does not exist on Linux, hence the delegate.
struct HTTPExchange {
    /// A response's head, and its body as it arrives.
    struct Response {
        let status: Int
        let headers: [String: String]
        let url: URL?
        let timeout: Double
        fileprivate var parts: AsyncThrowingStream<Part, Error>.AsyncIterator

        /// The next piece of the body; nil at its end.
        /// - Throws: `OpenAIError` when the transfer breaks off.
        mutating func next() async throws -> Data? {
            do {
                while let p = try await parts.next() {
                    if case .data(let d) = p { return d }
                }
                return nil
            } catch {
                throw HTTPExchange.transportError(error, url: url, timeout: timeout)
            }
        }

        /// The rest of the body.
        mutating func readAll() async throws -> Data {
            var out = Data()
            while let d = try await next() { out += d }
            return out
        }

        /// Seconds the server asked to wait before retrying (`Retry-After`).
        var retryAfter: Double? {
            for (k, v) in headers where k.lowercased() == "retry-after" { return Double(v.trimmingCharacters(in: .whitespaces)) }
            return nil
        }
    }

    fileprivate enum Part: Sendable {
        case head(Int, [String: String])
        case data(Data)
    }

    /// Sends the request and waits for the response head.
    /// - Throws: `OpenAIError` for transport failures, `CancellationError` when cancelled.
    static func send(_ request: URLRequest, timeout: Duration) async throws -> Response {
        let config = URLSessionConfiguration.ephemeral
        let seconds = Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18
        // FoundationNetworking keeps whole seconds only, and 0 would time out at once.
        config.timeoutIntervalForRequest = max(1, seconds.rounded(.up))
        let (parts, continuation) = AsyncThrowingStream<Part, Error>.makeStream()
        let delegate = Delegate(continuation)
        let session = URLSession(configuration: config, delegate: delegate, delegateQueue: nil)
        let task = session.dataTask(with: request)
        continuation.onTermination = { _ in
            task.cancel()
            session.finishTasksAndInvalidate()
        }
        task.resume()
        let url = request.url
        var iterator = parts.makeAsyncIterator()
        let first: Part?
        do { first = try await iterator.next() } catch { throw transportError(error, url: url, timeout: config.timeoutIntervalForRequest) }
        guard case .head(let status, let headers)? = first else {
            throw OpenAIError(.malformedResponse, "\(url?.absoluteString ?? "the server") closed the connection without an HTTP response", url: url)
        }
        return Response(status: status, headers: headers, url: url, timeout: config.timeoutIntervalForRequest, parts: iterator)
    }

    /// Says what went wrong in words a user can act on.
    static func transportError(_ error: Error, url: URL?, timeout: Double? = nil) -> Error {
        if error is OpenAIError || error is CancellationError { return error }
        let target = url?.absoluteString ?? "the server"
        guard let e = error as? URLError else {
            return OpenAIError(.connectionFailed, "request to \(target) failed: \(error)", url: url)
        }
        let detail = (e as NSError).localizedDescription
        switch e.code {
        case .cancelled:
            return CancellationError()
        case .timedOut:
            let limit = timeout.map { " of \(Int($0)) s" } ?? ""
            return OpenAIError(.timedOut, "\(target) sent nothing within the timeout\(limit); raise the timeout if the server is slow", url: url)
        case .cannotConnectToHost:
            return OpenAIError(.connectionFailed, "cannot connect to \(target): connection refused; is the server running? (\(detail))", url: url)
        case .cannotFindHost, .dnsLookupFailed:
            return OpenAIError(.connectionFailed, "cannot connect to \(target): unknown host (\(detail))", url: url)
        case .networkConnectionLost:
            return OpenAIError(.connectionFailed, "the connection to \(target) was lost (\(detail))", url: url)
        default:
            return OpenAIError(.connectionFailed, "request to \(target) failed: \(detail)", url: url)
        }
    }

    /// Forwards the session's callbacks into the stream.
    private final class Delegate: NSObject, URLSessionDataDelegate, @unchecked Sendable {
        let continuation: AsyncThrowingStream<Part, Error>.Continuation
        init(_ continuation: AsyncThrowingStream<Part, Error>.Continuation) { self.continuation = continuation }

        func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
                        completionHandler: @escaping (URLSession.ResponseDisposition) -> Void) {
            let http = response as? HTTPURLResponse
            var headers: [String: String] = [:]
            for (k, v) in http?.allHeaderFields ?? [:] { headers["\(k)"] = "\(v)" }
            continuation.yield(.head(http?.statusCode ?? 0, headers))
            completionHandler(.allow)
        }

        func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
            continuation.yield(.data(data))
        }

        func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: Error?) {
            if let error { continuation.finish(throwing: error) } else { continuation.finish() }
            session.finishTasksAndInvalidate()
        }
    }
}
