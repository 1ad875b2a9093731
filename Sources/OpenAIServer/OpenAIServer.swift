import Engine
import Foundation
import Logging
import OpenAIBackend
import Serving
import Tokenizer

/// Serves a model instance through the OpenAI API on 127.0.0.1: `POST /v1/completions`,
/// `POST /v1/chat/completions` (both with `stream: true` as server-sent events), `GET /v1/models`
/// and `GET /health`; with `AppRoutes`, ElixirCoder's own API, `/metrics` and the audit panel too.
/// Bad requests get a 400 with OpenAI's error object; the server keeps serving.
public struct OpenAIServer: Sendable {
    /// What the server uses where a request leaves something out.
    public struct Settings: Sendable {
        /// The id `/v1/models` lists (requests may name any model: there is one).
        public var modelName: String
        public var defaultMaxTokens = 256
        public var defaultSampling = SamplingParameters()
        /// Connections, request deadline and bearer token.
        public var limits = HTTPServer.Limits()

        public init(modelName: String) {
            self.modelName = modelName
        }
    }

    private let http: HTTPServer

    /// The bound port (the one asked for, or the one the system picked for port 0).
    public var port: Int { http.port }

    /// Binds the port at once, so a port in use fails here rather than in `run()`.
    /// - Parameters:
    ///   - host: the IPv4 address to bind; loopback unless the user asked otherwise.
    ///   - app: ElixirCoder's own endpoints, served beside the OpenAI API.
    /// - Throws: `HTTPServerError` when the port cannot be bound.
    public init(instance: ModelInstance, settings: Settings, host: String = "127.0.0.1", port: Int, app: AppRoutes? = nil, logger: Logger) throws {
        let routes = Routes(instance: instance, settings: settings, app: app, logger: logger)
        var limits = settings.limits
        if app != nil { limits.openPaths.formUnion([AppRoutes.Endpoint.panel.rawValue, AppRoutes.Endpoint.audit.rawValue]) }
        http = try HTTPServer(host: host, port: port, limits: limits, logger: logger) { request, writer in await routes.handle(request, writer) }
    }

    /// Serves until the calling task is cancelled.
    public func run() async {
        await http.run()
    }
}

/// A request the server cannot run, with the field at fault.
struct BadRequest: Error {
    let status: Int
    let message: String
    let param: String?
    let code: String?

    init(_ message: String, param: String? = nil, code: String? = nil, status: Int = 400) {
        self.status = status
        self.message = message
        self.param = param
        self.code = code
    }

    var json: [String: Any] {
        OpenAIErrorBody.json(message, type: status == 404 ? "not_found_error" : "invalid_request_error", param: param, code: code)
    }
}

/// The endpoints, bound to one model instance.
struct Routes: Sendable {
    let instance: ModelInstance
    let settings: OpenAIServer.Settings
    let app: AppRoutes?
    let logger: Logger
    let template: ChatTemplate?
    let created = Int(Date().timeIntervalSince1970)

    init(instance: ModelInstance, settings: OpenAIServer.Settings, app: AppRoutes?, logger: Logger) {
        self.instance = instance
        self.settings = settings
        self.app = app
        self.logger = logger
        template = ChatTemplate(template: instance.tokenizer.chatTemplate)
    }

    func handle(_ request: HTTPRequest, _ writer: HTTPResponseWriter) async {
        let start = ContinuousClock.now
        var outcome = ""
        let status: Int
        if let app, let answered = await app.handle(request, writer) {
            status = answered
        } else {
            switch (request.method, request.path) {
            case ("GET", "/health"):
                writer.respond(status: 200, json: ["status": "ok"])
                status = 200
            case ("GET", "/v1/models"):
                writer.respond(status: 200, json: [
                    "object": "list",
                    "data": [["id": settings.modelName, "object": "model", "created": created, "owned_by": "elixir-coder"]],
                ])
                status = 200
            case ("POST", "/v1/completions"), ("POST", "/v1/chat/completions"):
                do {
                    let job = try Job.parse(request.body, chat: request.path.hasSuffix("chat/completions"), routes: self)
                    (status, outcome) = await run(job, writer)
                } catch {
                    writer.respond(status: error.status, json: error.json)
                    (status, outcome) = (error.status, error.message)
                }
            case (_, "/health"), (_, "/v1/models"), (_, "/v1/completions"), (_, "/v1/chat/completions"):
                let e = BadRequest("\(request.method) is not allowed on \(request.path)", status: 405)
                writer.respond(status: 405, json: e.json)
                status = 405
            default:
                let own = app == nil ? "" : ", the panel at GET /, GET /api/v2/models/audit/summary, GET /metrics, POST /api/v1/generate"
                let e = BadRequest("no endpoint \(request.method) \(request.path); try POST /v1/completions, POST /v1/chat/completions, GET /v1/models, GET /health\(own)", status: 404)
                writer.respond(status: 404, json: e.json)
                status = 404
            }
        }
        let seconds = Double((ContinuousClock.now - start).components.attoseconds) / 1e18 + Double((ContinuousClock.now - start).components.seconds)
        logger.info("\(request.method) \(request.path) \(status) in \(String(format: "%.2f", seconds)) s\(outcome.isEmpty ? "" : ": \(outcome)")")
    }
}
