import Foundation

/// JSON-RPC 2.0 error codes (and LSP's request-cancelled).
public enum RPCErrorCode: Int, Sendable {
    case parseError = -32700
    case invalidRequest = -32600
    case methodNotFound = -32601
    case invalidParams = -32602
    case internalError = -32603
    case serverNotInitialized = -32002
    case requestCancelled = -32800
}

/// An error a handler returns to the client.
public struct RPCError: Error, Sendable {
    public let code: RPCErrorCode
    public let message: String
    public init(_ code: RPCErrorCode, _ message: String) {
        self.code = code
        self.message = message
    }
}

/// What a handler gets: its parameters and a way to send notifications while it runs.
public struct RPCContext: Sendable {
    public let id: JSONValue
    public let params: JSONValue
    public let notify: @Sendable (String, JSONValue) async -> Void

    /// Sends `$/progress` for this request.
    public func progress(_ value: JSONValue) async {
        await notify("$/progress", .object(["token": id, "value": value]))
    }
}

/// A JSON-RPC server over any byte streams: requests run concurrently, responses
/// and notifications are written one whole frame at a time, malformed input gets
/// the standard error codes and never stops the server.
public actor RPCServer {
    public typealias Handler = @Sendable (RPCContext) async throws -> JSONValue

    private var handlers: [String: Handler] = [:]
    private var running: [JSONValue: Task<Void, Never>] = [:]
    private let write: @Sendable (Data) -> Void
    private var exitRequested = false
    public private(set) var shutdownRequested = false

    /// - Parameter write: receives whole frames; must not interleave them (called from this actor only).
    public init(write: @escaping @Sendable (Data) -> Void) {
        self.write = write
    }

    public func register(_ method: String, _ handler: @escaping Handler) {
        handlers[method] = handler
    }

    public var shouldExit: Bool { exitRequested }

    /// Handles one framed message body.
    public func receive(_ body: [UInt8]) {
        guard let message = try? JSONDecoder().decode(JSONValue.self, from: Data(body)) else {
            send(error: RPCError(.parseError, "the message is not valid JSON"), id: .null)
            return
        }
        if case .array(let batch) = message {
            // Batches are answered message by message; an empty one is invalid.
            if batch.isEmpty { send(error: RPCError(.invalidRequest, "an empty batch is not a request"), id: .null) }
            for m in batch { dispatch(m) }
            return
        }
        dispatch(message)
    }

    /// Reports a frame whose header could not be read.
    public func receiveBadHeader(_ header: String) {
        send(error: RPCError(.parseError, "frame header has no valid Content-Length: \(header.prefix(80))"), id: .null)
    }

    /// Answers a frame whose Content-Length is over the limit; its body is skipped, not read.
    public func receiveOversized(length: Int, limit: Int) {
        send(error: RPCError(.parseError, "a message of \(length) bytes is over the limit of \(limit) bytes (serve --max-frame-mib); it was skipped"), id: .null)
    }

    private func dispatch(_ message: JSONValue) {
        guard case .object(let obj) = message, obj["jsonrpc"]?.string == "2.0", let method = obj["method"]?.string else {
            let id = message["id"] ?? .null
            send(error: RPCError(.invalidRequest, "not a JSON-RPC 2.0 request (needs \"jsonrpc\": \"2.0\" and a string \"method\")"), id: id)
            return
        }
        let id = obj["id"]
        let params = obj["params"] ?? .object([:])
        switch method {
        case "$/cancelRequest":
            if let target = params["id"], let task = running[target] { task.cancel() }
            return
        case "exit":
            exitRequested = true
            return
        default: break
        }
        guard let handler = handlers[method] else {
            if let id { send(error: RPCError(.methodNotFound, "no method named '\(method)'"), id: id) }
            return
        }
        guard let id else {
            // A notification: run it, answer nothing.
            Task { _ = try? await handler(RPCContext(id: .null, params: params, notify: { _, _ in })) }
            return
        }
        if case .object = params {} else if case .array = params {} else {
            send(error: RPCError(.invalidParams, "params must be an object or an array"), id: id)
            return
        }
        if method == "shutdown" { shutdownRequested = true }
        let notify: @Sendable (String, JSONValue) async -> Void = { [weak self] m, p in await self?.notify(m, p) }
        running[id] = Task {
            let response: Result<JSONValue, RPCError>
            do {
                let value = try await handler(RPCContext(id: id, params: params, notify: notify))
                response = Task.isCancelled ? .failure(RPCError(.requestCancelled, "the request was cancelled")) : .success(value)
            } catch let e as RPCError {
                response = .failure(e)
            } catch is CancellationError {
                response = .failure(RPCError(.requestCancelled, "the request was cancelled"))
            } catch {
                response = .failure(RPCError(.internalError, "\(error)"))
            }
            self.finish(id, response)
        }
    }

    private func finish(_ id: JSONValue, _ response: Result<JSONValue, RPCError>) {
        running[id] = nil
        switch response {
        case .success(let v): send(.object(["jsonrpc": .string("2.0"), "id": id, "result": v]))
        case .failure(let e): send(error: e, id: id)
        }
    }

    /// Requests still running.
    public var inFlight: Int { running.count }

    public func notify(_ method: String, _ params: JSONValue) {
        send(.object(["jsonrpc": .string("2.0"), "method": .string(method), "params": params]))
    }

    private func send(error: RPCError, id: JSONValue) {
        send(.object(["jsonrpc": .string("2.0"), "id": id,
                      "error": .object(["code": .number(Double(error.code.rawValue)), "message": .string(error.message)])]))
    }

    private func send(_ value: JSONValue) {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let body = try? enc.encode(value) else { return }
        write(MessageFramer.frame(body))
    }

    /// Waits for running requests (after `exit` or end of input).
    public func drain() async {
        while let (_, t) = running.first { await t.value }
    }
}
