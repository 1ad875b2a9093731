import Checks
import Foundation
import RPC

/// The LSP methods the language server adds to `serve --stdio` (`initialize` and `shutdown`
/// are shared with the editor protocol's own methods and answered by the front end with
/// `LanguageServer.initialize` and `shutdown`).
public enum LSPMethod: String, CaseIterable, Sendable {
    case initialized
    case didOpen = "textDocument/didOpen", didChange = "textDocument/didChange"
    case didSave = "textDocument/didSave", didClose = "textDocument/didClose"
    case hover = "textDocument/hover", codeAction = "textDocument/codeAction"
    case executeCommand = "workspace/executeCommand"
    case cancelProgress = "window/workDoneProgress/cancel"

    /// Notifications run in arrival order (an edit must land before the next one and before
    /// any later request reads the text); requests run concurrently.
    var isNotification: Bool {
        switch self {
        case .initialized, .didOpen, .didChange, .didSave, .didClose, .cancelProgress: return true
        case .hover, .codeAction, .executeCommand: return false
        }
    }
}

/// Settings of a language server session.
public struct LanguageServerSettings: Sendable {
    /// How long a document must be unchanged before it is checked.
    public var debounce: Duration = .milliseconds(50)
    public init() {}
}

/// An Elixir language server on an `RPCServer`: document sync, diagnostics from the checks,
/// hover explanations, code actions and commands that generate code through the product's
/// services. Positions are UTF-16 (the only encoding it advertises).
public final class LanguageServer: @unchecked Sendable {
    public let store: DocumentStore
    public let services: EditorServices
    let server: RPCServer
    let scheduler: DiagnosticScheduler
    private let lock = NSLock()
    private var initialized = false
    private var clientProgress = false
    private var progressTasks: [String: @Sendable () -> Void] = [:]
    private var nextToken = 0

    public init(server: RPCServer, services: EditorServices, settings: LanguageServerSettings = LanguageServerSettings()) {
        self.server = server
        self.services = services
        let store = DocumentStore()
        self.store = store
        scheduler = DiagnosticScheduler(store: store, delay: settings.debounce, diagnose: { [services] in try await services.diagnose($1, uri: $0) },
                                        publish: { [server] uri, version, diagnostics in
            var params: [String: JSONValue] = ["uri": .string(uri), "diagnostics": .array(diagnostics)]
            if let version { params["version"] = .integer(Int64(version)) }
            await server.notify("textDocument/publishDiagnostics", .object(params))
        })
    }

    /// The commands `workspace/executeCommand` runs.
    public enum Command: String, CaseIterable, Sendable {
        case generate = "elixirCoder.generate", implement = "elixirCoder.implement", fix = "elixirCoder.fix"
        case explain = "elixirCoder.explain", clarify = "elixirCoder.clarify"
    }

    func locked<T>(_ body: () throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }

    var isInitialized: Bool { locked { initialized } }

    /// Answers `initialize`: records what the client can do and returns the capabilities, which
    /// name exactly what is implemented. A second `initialize` is an error.
    public func initialize(_ params: JSONValue) async throws -> [String: JSONValue] {
        try locked {
            guard !initialized else { throw RPCError(.invalidRequest, "initialize was already sent") }
            initialized = true
            clientProgress = params["capabilities"]?["window"]?["workDoneProgress"]?.bool ?? false
        }
        if let compile = params["initializationOptions"]?["compile"]?.bool { await services.setCompile(compile) }
        // The checkers boot while the client opens its first document.
        if params["capabilities"] != nil { Task { [services] in _ = try? await services.candidateChecker() } }
        return [
            "positionEncoding": .string("utf-16"),
            "textDocumentSync": .object(["openClose": .bool(true), "change": .integer(2), "save": .object(["includeText": .bool(false)])]),
            "hoverProvider": .bool(true),
            "codeActionProvider": .object(["codeActionKinds": .array(["quickfix", "refactor.rewrite"].map { .string($0) })]),
            "executeCommandProvider": .object(["commands": .array(Command.allCases.map { .string($0.rawValue) })]),
        ]
    }

    /// Answers `shutdown`: pending checks stop.
    public func shutdown() {
        scheduler.cancelAll()
        for cancel in locked({ progressTasks.values }) { cancel() }
    }

    /// Registers every LSP method on the server.
    public func register() async {
        for method in LSPMethod.allCases {
            if method.isNotification {
                await server.registerNotification(method.rawValue) { [self] params in
                    // Before `initialize`, notifications are dropped (LSP).
                    guard isInitialized else { return }
                    notification(method, params)
                }
            } else {
                await server.register(method.rawValue) { [self] ctx in
                    guard isInitialized else { throw RPCError(.serverNotInitialized, "send initialize first") }
                    switch method {
                    case .hover: return try await hover(ctx.params)
                    case .codeAction: return try await codeActions(ctx.params)
                    default: return try await execute(ctx.params)
                    }
                }
            }
        }
    }

    /// Sends `window/logMessage`: where a notification's problem goes, as it has no answer.
    func log(_ message: String, type: Int = 2) {
        Task { [server] in await server.notify("window/logMessage", .object(["type": .integer(Int64(type)), "message": .string("elixir-coder: " + message)])) }
    }

    private func notification(_ method: LSPMethod, _ params: JSONValue) {
        let doc = params["textDocument"]
        let uri = doc?["uri"]?.string
        switch method {
        case .initialized: break
        case .cancelProgress:
            if let token = params["token"].map(Self.tokenKey) { locked { progressTasks[token] }?() }
        case .didOpen:
            guard let uri, let text = doc?["text"]?.string else { return log("didOpen needs textDocument.uri and textDocument.text") }
            store.open(TextDocument(uri: uri, version: doc?["version"]?.int ?? 0, text: text))
            scheduler.schedule(uri, after: .zero)
        case .didChange:
            guard let uri else { return log("didChange needs textDocument.uri") }
            guard case .array(let changes)? = params["contentChanges"] else { return log("didChange needs contentChanges, an array") }
            var problem: String?
            let known = store.update(uri) { d in
                for change in changes {
                    guard let text = change["text"]?.string else { problem = "a change without text was skipped"; continue }
                    if let r = change["range"] {
                        guard let range = TextRange(r) else { problem = "a change with a malformed range was skipped"; continue }
                        d.apply(range: range, text: text)
                    } else {
                        d.apply(range: nil, text: text)
                    }
                }
                if let v = doc?["version"]?.int { d.setVersion(v) } else { d.setVersion(d.version + 1) }
            }
            guard known else { return log("didChange for \(uri), which is not open: ignored") }
            if let problem { log("didChange for \(uri): \(problem)") }
            scheduler.schedule(uri)
        case .didSave:
            guard let uri, store.document(uri) != nil else { return log("didSave for a document that is not open: ignored") }
            scheduler.schedule(uri, after: .zero)
        case .didClose:
            guard let uri, store.close(uri) else { return log("didClose for a document that is not open: ignored") }
            Task { [scheduler] in await scheduler.clear(uri) }
        case .hover, .codeAction, .executeCommand: break
        }
    }

    /// The open document a request names; -32602 otherwise.
    func document(_ params: JSONValue) throws -> TextDocument {
        guard let uri = params["textDocument"]?["uri"]?.string ?? params["uri"]?.string else { throw RPCError(.invalidParams, "textDocument.uri is missing") }
        guard let d = store.document(uri) else { throw RPCError(.invalidParams, "\(uri) is not open (send textDocument/didOpen first)") }
        return d
    }

    /// The findings last published for `uri` with their ranges on the text they were found in.
    func publishedFindings(_ uri: String) -> [(finding: Finding, range: TextRange, text: String)] {
        guard let p = store.lastPublished(uri) else { return [] }
        let doc = TextDocument(uri: uri, version: p.version, text: p.text)
        return p.findings.map { ($0, doc.range(line: $0.line, column: $0.column), p.text) }
    }

    /// `textDocument/hover`: on a diagnostic's range, its explanation (what, why, how to fix) in
    /// Markdown, from the documentation; null elsewhere.
    private func hover(_ params: JSONValue) async throws -> JSONValue {
        let doc = try document(params)
        guard let position = Position(params["position"]) else { throw RPCError(.invalidParams, "position needs integer line and character, 0 or more") }
        let hits = publishedFindings(doc.uri).filter { $0.range.contains(position) || $0.range.start == $0.range.end && $0.range.start.line == position.line }
        guard let first = hits.first else { return .null }
        var parts: [String] = []
        for hit in hits.prefix(3) {
            parts.append(try await services.documentationExplanation(code: hit.text, finding: hit.finding).markdown)
        }
        return .object(["contents": .object(["kind": .string("markdown"), "value": .string(parts.joined(separator: "\n---\n\n"))]), "range": first.range.json])
    }

    /// A progress token's key (tokens are strings or integers).
    static func tokenKey(_ token: JSONValue) -> String {
        token.string ?? token.int.map(String.init) ?? "\(token)"
    }

    /// Runs `work` under work-done progress: the client's token, else one the server creates
    /// when the client supports it; `window/workDoneProgress/cancel` cancels the work.
    func withProgress<T: Sendable>(_ title: String, token given: JSONValue?, _ work: @escaping @Sendable (@escaping @Sendable (String) -> Void) async throws -> T) async throws -> T {
        var token = given
        if token == nil, locked({ clientProgress }) {
            let t = JSONValue.string("elixir-coder/\(locked { nextToken += 1; return nextToken })")
            if (try? await server.request("window/workDoneProgress/create", .object(["token": t]))) != nil { token = t }
        }
        guard let token else { return try await work { _ in } }
        let server = self.server
        let (outbox, posted) = AsyncStream<JSONValue>.makeStream()
        let sender = Task { for await value in outbox { await server.notify("$/progress", .object(["token": token, "value": value])) } }
        posted.yield(.object(["kind": .string("begin"), "title": .string(title), "cancellable": .bool(true)]))
        let report: @Sendable (String) -> Void = { posted.yield(.object(["kind": .string("report"), "message": .string($0)])) }
        let task = Task { try await work(report) }
        let key = Self.tokenKey(token)
        locked { progressTasks[key] = { task.cancel() } }
        defer { _ = locked { progressTasks.removeValue(forKey: key) } }
        do {
            let value = try await withTaskCancellationHandler { try await task.value } onCancel: { task.cancel() }
            posted.yield(.object(["kind": .string("end"), "message": .string("done")]))
            posted.finish()
            await sender.value
            return value
        } catch {
            posted.yield(.object(["kind": .string("end"), "message": .string(error is CancellationError || Task.isCancelled ? "cancelled" : "failed: \(error)")]))
            posted.finish()
            await sender.value
            throw error
        }
    }
}
