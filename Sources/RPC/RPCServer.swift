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
///
/// A batch is answered with one array once all its requests are done. After `shutdown`
/// only `exit` is served (LSP); `exit` and `cancelAll()` cancel what runs and end all output.
public actor RPCServer {
    public typealias Handler = @Sendable (RPCContext) async throws -> JSONValue
    /// A notification handled before the next message is read (document sync, where order is meaning).
    public typealias NotificationHandler = @Sendable (JSONValue) -> Void

    /// Where an answer goes: out on its own, or into the batch (by key) it came in.
    private enum Reply { case single, batch(Int) }

    /// A batch still waiting for some of its entries.
    private struct PendingBatch {
        var waiting: Int
        var responses: [JSONValue] = []
    }

    private var handlers: [String: Handler] = [:]
    private var orderedNotifications: [String: NotificationHandler] = [:]
    /// Requests this server sent to the client, waiting for its answer, by their (string) id.
    private var outgoing: [String: CheckedContinuation<JSONValue, any Error>] = [:]
    /// Running work by serial number, not by id: a client may reuse an id; nil id: a notification.
    private var running: [Int: (id: JSONValue?, task: Task<Void, Never>)] = [:]
    private var batches: [Int: PendingBatch] = [:]
    private var nextSerial = 0
    private let write: @Sendable (Data) -> Void
    private var exitRequested = false
    /// Set by `exit` or `cancelAll()`: nothing more is read or written.
    private var closed = false
    public private(set) var shutdownRequested = false

    /// - Parameter write: receives whole frames; must not interleave them (called from this actor only).
    public init(write: @escaping @Sendable (Data) -> Void) {
        self.write = write
    }

    public func register(_ method: String, _ handler: @escaping Handler) {
        handlers[method] = handler
    }

    /// Registers a notification that runs in arrival order, on this actor, before the next
    /// message is handled; other handlers run concurrently and may be reordered. A request for
    /// such a method gets -32600.
    public func registerNotification(_ method: String, _ handler: @escaping NotificationHandler) {
        orderedNotifications[method] = handler
    }

    /// Sends a request to the client (`window/showMessageRequest`, `workspace/applyEdit`, ...) and
    /// waits for its answer; cancelling the calling task stops the wait (the client's late answer
    /// is then dropped).
    public func request(_ method: String, _ params: JSONValue) async throws -> JSONValue {
        let id = "elixir-coder-\(serial())"
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (cont: CheckedContinuation<JSONValue, any Error>) in
                guard !closed else {
                    cont.resume(throwing: CancellationError())
                    return
                }
                outgoing[id] = cont
                send(.object(["jsonrpc": .string("2.0"), "id": .string(id), "method": .string(method), "params": params]))
            }
        } onCancel: {
            Task { await self.abandon(id) }
        }
    }

    private func abandon(_ id: String) {
        outgoing.removeValue(forKey: id)?.resume(throwing: CancellationError())
    }

    /// A client's answer to one of `request`'s: resumes the waiting caller; an answer nobody
    /// waits for (late, or to an id never sent) is dropped, as JSON-RPC answers are never answered.
    private func receiveAnswer(_ obj: [String: JSONValue]) {
        guard let id = obj["id"]?.string, let cont = outgoing.removeValue(forKey: id) else { return }
        if let error = obj["error"] {
            let code = error["code"]?.int.map(String.init) ?? "?"
            cont.resume(throwing: RPCError(.internalError, "the client answered with error \(code): \(error["message"]?.string ?? "")"))
        } else {
            cont.resume(returning: obj["result"] ?? .null)
        }
    }

    public var shouldExit: Bool { exitRequested }

    /// Handles one framed message body.
    public func receive(_ body: [UInt8]) {
        guard !closed else { return }
        guard let message = try? JSONDecoder().decode(JSONValue.self, from: Data(body)) else {
            send(error: RPCError(.parseError, "the message is not valid JSON"), id: .null)
            return
        }
        guard case .array(let entries) = message else {
            dispatch(message, .single)
            return
        }
        guard !entries.isEmpty else {
            send(error: RPCError(.invalidRequest, "an empty batch is not a request"), id: .null)
            return
        }
        let key = serial()
        batches[key] = PendingBatch(waiting: entries.count)
        for entry in entries { dispatch(entry, .batch(key)) }
    }

    /// Reports a frame whose header could not be read.
    public func receiveBadHeader(_ header: String) {
        send(error: RPCError(.parseError, "frame header has no valid Content-Length: \(header.prefix(80))"), id: .null)
    }

    /// Answers a frame whose Content-Length is over the limit; its body is skipped, not read.
    public func receiveOversized(length: Int, limit: Int) {
        send(error: RPCError(.parseError, "a message of \(length) bytes is over the limit of \(limit) bytes (serve --max-frame-mib); it was skipped"), id: .null)
    }

    /// JSON-RPC ids are strings, integers or null; others (and integers past 64 bits) cannot be echoed exactly.
    private static func isValidID(_ id: JSONValue) -> Bool {
        switch id {
        case .string, .integer, .null: return true
        default: return false
        }
    }

    /// Handles one request or notification; every path but `exit` (which ends everything) calls `complete` once, so batches finish.
    private func dispatch(_ message: JSONValue, _ reply: Reply) {
        guard !closed else { return }
        if case .object(let obj) = message, obj["method"] == nil, obj["id"] != nil, obj["result"] != nil || obj["error"] != nil {
            receiveAnswer(obj)
            complete(nil, reply)
            return
        }
        guard case .object(let obj) = message, obj["jsonrpc"]?.string == "2.0", let method = obj["method"]?.string else {
            let id = message["id"].flatMap { Self.isValidID($0) ? $0 : nil } ?? .null
            complete(Self.response(error: RPCError(.invalidRequest, "not a JSON-RPC 2.0 request (needs \"jsonrpc\": \"2.0\" and a string \"method\")"), id: id), reply)
            return
        }
        let id = obj["id"]
        if let id, !Self.isValidID(id) {
            complete(Self.response(error: RPCError(.invalidRequest, "an id must be a string, an integer (64 bits at most) or null"), id: .null), reply)
            return
        }
        if shutdownRequested, method != "exit" {
            complete(id.map { Self.response(error: RPCError(.invalidRequest, "the server is shutting down"), id: $0) }, reply)
            return
        }
        let params = obj["params"] ?? .object([:])
        switch method {
        case "$/cancelRequest":
            if let target = params["id"] {
                for (_, r) in running where r.id == target { r.task.cancel() }
            }
            complete(nil, reply)
            return
        case "exit":
            exitRequested = true
            cancelAll()
            return
        default: break
        }
        if let ordered = orderedNotifications[method] {
            if let id {
                complete(Self.response(error: RPCError(.invalidRequest, "'\(method)' is a notification: send it without an id"), id: id), reply)
            } else {
                ordered(params)
                complete(nil, reply)
            }
            return
        }
        guard let handler = handlers[method] else {
            complete(id.map { Self.response(error: RPCError(.methodNotFound, "no method named '\(method)'"), id: $0) }, reply)
            return
        }
        guard let id else {
            // A notification: run it, answer nothing.
            let key = serial()
            running[key] = (nil, Task {
                _ = try? await handler(RPCContext(id: .null, params: params, notify: { _, _ in }))
                self.running[key] = nil
            })
            complete(nil, reply)
            return
        }
        if case .object = params {} else if case .array = params {} else {
            complete(Self.response(error: RPCError(.invalidParams, "params must be an object or an array"), id: id), reply)
            return
        }
        if method == "shutdown" { shutdownRequested = true }
        let notify: @Sendable (String, JSONValue) async -> Void = { [weak self] m, p in await self?.notify(m, p) }
        let key = serial()
        running[key] = (id, Task {
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
            self.finish(key, id, response, reply)
        })
    }

    private func serial() -> Int {
        defer { nextSerial += 1 }
        return nextSerial
    }

    private func finish(_ key: Int, _ id: JSONValue, _ response: Result<JSONValue, RPCError>, _ reply: Reply) {
        // Gone already: cancelled by `cancelAll()`, whose client wants no answer.
        guard running.removeValue(forKey: key) != nil else { return }
        switch response {
        case .success(let v): complete(.object(["jsonrpc": .string("2.0"), "id": id, "result": v]), reply)
        case .failure(let e): complete(Self.response(error: e, id: id), reply)
        }
    }

    /// Sends an answer (nil: none, for a notification), or adds it to its batch and sends the
    /// batch when it is the last; a batch of notifications only sends nothing.
    private func complete(_ response: JSONValue?, _ reply: Reply) {
        switch reply {
        case .single:
            if let response { send(response) }
        case .batch(let key):
            guard var batch = batches[key] else { return }
            if let response { batch.responses.append(response) }
            batch.waiting -= 1
            if batch.waiting > 0 {
                batches[key] = batch
                return
            }
            batches[key] = nil
            if !batch.responses.isEmpty { send(.array(batch.responses)) }
        }
    }

    /// Requests and notifications still running.
    public var inFlight: Int { running.count }

    public func notify(_ method: String, _ params: JSONValue) {
        send(.object(["jsonrpc": .string("2.0"), "method": .string(method), "params": params]))
    }

    private static func response(error: RPCError, id: JSONValue) -> JSONValue {
        .object(["jsonrpc": .string("2.0"), "id": id,
                 "error": .object(["code": .integer(Int64(error.code.rawValue)), "message": .string(error.message)])])
    }

    private func send(error: RPCError, id: JSONValue) {
        send(Self.response(error: error, id: id))
    }

    private func send(_ value: JSONValue) {
        guard !closed else { return }
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let body = try? enc.encode(value) else { return }
        write(MessageFramer.frame(body))
    }

    /// Waits for running requests.
    public func drain() async {
        while let r = running.first?.value { await r.task.value }
    }

    /// Cancels everything running without waiting for it, and ends all input and output:
    /// for `exit`, and for a client that is gone (end of input), which will read no answers.
    public func cancelAll() {
        closed = true
        for (_, r) in running { r.task.cancel() }
        running.removeAll()
        for (_, cont) in outgoing { cont.resume(throwing: CancellationError()) }
        outgoing.removeAll()
        batches.removeAll()
    }
}
