import ElixirCoderApp
import Foundation
import RPC

/// ElixirCoder's own endpoints beside the OpenAI API: the requests of the JSON-RPC server
/// (`POST /api/v1/generate`, `check`, `explain`, `clarify`), the audit (`GET /api/v2/models/...`),
/// `GET /metrics` for Prometheus, and the audit panel at `GET /` and `GET /audit`.
public struct AppRoutes: Sendable {
    let service: CoderService
    let panel: Data

    /// - Throws: `PanelError` when the panel's page is missing from the binary's resources.
    public init(service: CoderService) throws {
        self.service = service
        panel = try Panel.page()
    }

    /// The endpoints, to tell a 405 from a 404 and to list in a 404's message.
    enum Endpoint: String, CaseIterable {
        case panel = "/", audit = "/audit", metrics = "/metrics"
        case summary = "/api/v2/models/audit/summary", recent = "/api/v2/models/audit/recent"
        case registry = "/api/v2/models/registry", health = "/api/v2/models/health"
        case generate = "/api/v1/generate", check = "/api/v1/check", explain = "/api/v1/explain", clarify = "/api/v1/clarify"

        var method: String {
            switch self {
            case .generate, .check, .explain, .clarify: "POST"
            default: "GET"
            }
        }

        /// The query parameters it takes; any other is refused. The panel's are read by its script.
        var parameters: Set<String> {
            switch self {
            case .recent: ["limit"]
            case .panel, .audit: ["interval", "limit"]
            default: []
            }
        }
    }

    /// Seconds since 1970 for timestamps, keys sorted so answers compare byte for byte.
    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.dateEncodingStrategy = .secondsSince1970
        e.outputFormatting = .sortedKeys
        return e
    }()

    /// Answers `request` when it is for one of these endpoints.
    /// - Returns: the status sent, or nil when the path is not one of these.
    func handle(_ request: HTTPRequest, _ writer: HTTPResponseWriter) async -> Int? {
        guard let endpoint = Endpoint(rawValue: request.path) else { return nil }
        guard request.method == endpoint.method else {
            return fail(BadRequest("\(request.method) is not allowed on \(request.path); use \(endpoint.method)", status: 405), writer)
        }
        if let unknown = request.query.keys.sorted().first(where: { !endpoint.parameters.contains($0) }) {
            let takes = endpoint.parameters.isEmpty ? "it takes none" : "it takes " + endpoint.parameters.sorted().joined(separator: ", ")
            return fail(BadRequest("\(request.path) has no parameter '\(unknown.prefix(50))'; \(takes)", param: unknown), writer)
        }
        do {
            switch endpoint {
            case .panel, .audit:
                writer.respond(status: 200, contentType: "text/html; charset=utf-8", body: panel, extraHeaders: "Cache-Control: no-store\r\n")
            case .metrics:
                let text = await service.audit.metrics().prometheusText
                writer.respond(status: 200, contentType: "text/plain; version=0.0.4; charset=utf-8", body: Data(text.utf8))
            case .summary:
                try send(await service.audit.summary(), writer)
            case .recent:
                try send(try await service.audit.recent(limit: try Self.limit(request.query["limit"])), writer)
            case .registry:
                try send(try service.audit.registry(), writer)
            case .health:
                try send(await service.audit.health(), writer)
            case .generate:
                try send(try await service.generate(try Self.body(request)), writer)
            case .check:
                try send(try await service.check(try Self.body(request)), writer)
            case .explain:
                try send(try await service.explain(try Self.body(request)), writer)
            case .clarify:
                try send(try await service.clarify(try Self.body(request)), writer)
            }
            return 200
        } catch let e as BadRequest {
            return fail(e, writer)
        } catch let e as ServiceError {
            switch e.code {
            case .invalidParams: return fail(BadRequest(e.message), writer)
            case .unavailable: return fail(BadRequest(e.message, status: 503), writer)
            case .internalError: return fail(BadRequest(e.message, status: 500), writer)
            }
        } catch {
            return fail(BadRequest("\(request.path) failed: \(error)", status: 500), writer)
        }
    }

    private func send(_ value: some Encodable, _ writer: HTTPResponseWriter) throws {
        writer.respond(status: 200, body: try Self.encoder.encode(value))
    }

    private func fail(_ e: BadRequest, _ writer: HTTPResponseWriter) -> Int {
        writer.respond(status: e.status, json: e.json)
        return e.status
    }

    /// `limit`: 20 when absent, else an integer `AuditService` accepts.
    static func limit(_ text: String?) throws -> Int {
        guard let text else { return 20 }
        guard let n = Int(text) else { throw BadRequest("limit '\(text.prefix(50))' is not an integer; send 1 to \(AuditService.recentLimits.upperBound)", param: "limit") }
        return n
    }

    /// A POST body: one JSON object, as a JSON-RPC request's `params`.
    static func body(_ request: HTTPRequest) throws -> JSONValue {
        guard !request.body.isEmpty else { throw BadRequest("the request has no body; send a JSON object") }
        guard let value = try? JSONDecoder().decode(JSONValue.self, from: request.body) else { throw BadRequest("the request body is not valid JSON") }
        guard case .object = value else { throw BadRequest("the request body must be a JSON object") }
        return value
    }
}

/// Why the panel's page could not be read.
public struct PanelError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public var description: String { message }
}

/// The audit panel: one HTML page with its CSS and script inline, shipped as a resource of this target.
enum Panel {
    static func page() throws -> Data {
        guard let url = Bundle.module.url(forResource: "panel", withExtension: "html", subdirectory: "Resources")
            ?? Bundle.module.url(forResource: "panel", withExtension: "html") else {
            throw PanelError(message: "panel.html is missing from the server's resources (ElixirCoder_OpenAIServer.resources beside the binary)")
        }
        return try Data(contentsOf: url)
    }
}
