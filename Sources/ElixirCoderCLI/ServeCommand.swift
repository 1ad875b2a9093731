import ArgumentParser
import CommandLineOptions
import Checks
import ElixirCoderApp
import ElixirCoderCore
import Engine
import Foundation
import LanguageServer
import OpenAIServer
import Pipeline
import RPC
import Serving
import Telemetry

/// `elixir-coder serve --stdio`: JSON-RPC 2.0 for editor plugins; `serve --http`: the OpenAI API.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve JSON-RPC 2.0 over stdio with Content-Length framing (for editor plugins).",
        discussion: "It is also a language server (LSP over the same stream: document sync, diagnostics from the checks, hover explanations, code actions and commands that generate; see docs/protocol.md and docs/editors.md). Methods: initialize, generate, check, clarify, answerClarification, explain, audit/summary, audit/recent, models/registry, health, shutdown, exit, $/cancelRequest. While a request runs the server sends $/progress notifications; generate with \"stream\": true also sends generate/partial notifications. stdout carries protocol messages only; logs go to stderr."
    )

    @Flag(help: "Speak JSON-RPC over standard input and output.") var stdio = false
    @Flag(help: "Instead, serve HTTP on 127.0.0.1: the audit panel at GET /, the OpenAI API (POST /v1/completions, POST /v1/chat/completions, GET /v1/models, GET /health), POST /api/v1/generate|check|explain|clarify, GET /api/v2/models/audit/summary|audit/recent|registry|health and GET /metrics.") var http = false
    @Option(help: "The port for --http (0 picks a free one).") var port: Int = 8080
    @Option(help: "With --http, the IPv4 address to listen on; anything but loopback (127.0.0.1) serves other machines and prints a warning.") var host: String = "127.0.0.1"
    @Option(help: "With --http, connections served at once; more get a 503 (default \(HTTPServer.Limits().maxConnections)).") var maxConnections: Int?
    @Option(help: "With --http, seconds a request may take to arrive in full; slower ones get a 408 (default \(Int(HTTPServer.Limits().requestDeadline))).") var requestDeadline: Double?
    @Option(help: "With --http, require `Authorization: Bearer <token>` on every request but GET /health and the panel's page (which asks for the token), the token read from this environment variable (not from the command line, where other users could see it).")
    var tokenEnv: String?
    @Option(help: "With --stdio, the largest message body accepted, in MiB; a larger Content-Length is answered with an error and its body skipped.") var maxFrameMib: Int = 64
    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var observability: ObservabilityOptions
    @OptionGroup var grammarOptions: PipelineGrammarOptions

    func validate() throws {
        guard stdio != http else { throw ValidationError("say how to serve: --stdio or --http") }
        guard (0...65535).contains(port) else { throw ValidationError("--port must be between 0 and 65535") }
        guard (1...4096).contains(maxFrameMib) else { throw ValidationError("--max-frame-mib must be between 1 and 4096") }
        guard (maxConnections ?? 1) >= 1, (requestDeadline ?? 1) > 0 else { throw ValidationError("--max-connections must be at least 1 and --request-deadline more than 0") }
    }

    func run() async throws {
        if http { return try await runHTTP() }
        // A reader thread turns stdin into frames; requests run concurrently on the server.
        let (frames, continuation) = AsyncStream<MessageFramer.Frame>.makeStream()
        // A client that closed its end of stdout has gone as surely as one that closed stdin: the
        // failed write (not a SIGPIPE, which would kill the server mid-request) ends the reading.
        signal(SIGPIPE, SIG_IGN)
        let out = FileHandle.standardOutput
        let server = RPCServer(write: { data in
            do { try out.write(contentsOf: data) } catch { continuation.finish() }
        })
        let pool = try? CheckerPool()
        let audit = AuditService(checker: pool) { [modelOptions, observability] in
            let config = try Configuration.load()
            return try ModelRegistry.resolve(active: modelOptions.model ?? config.model, shadow: observability.shadowModel ?? config.shadowModel).0
        }
        let setup = LazySetup(modelOptions: modelOptions, observability: observability, grammarOptions: grammarOptions, audit: audit)
        let service = CoderService(setup: { try await setup.get() }, checker: pool, audit: audit, fieldPrefix: "params.")
        let lsp = LanguageServer(server: server, services: EditorServices(setup: { try await setup.get() }))
        await lsp.register()
        await StdioMethods(service: service, lsp: lsp).register(on: server)

        let limit = maxFrameMib << 20
        let reader = Thread {
            var framer = MessageFramer(maxFrameBytes: limit)
            while true {
                let data = FileHandle.standardInput.availableData
                if data.isEmpty { break }
                framer.append(Array(data))
                while let f = framer.next() { continuation.yield(f) }
            }
            continuation.finish()
        }
        reader.start()
        Stderr.print("elixir-coder serve: JSON-RPC on stdio")
        for await frame in frames {
            switch frame {
            case .message(let body): await server.receive(body)
            case .badHeader(let h): await server.receiveBadHeader(h)
            case .tooLarge(let length): await server.receiveOversized(length: length, limit: limit)
            }
            if await server.shouldExit { break }
        }
        // After `exit`, the end of input or a closed output nobody reads answers: cancel, don't wait
        // (a generate can take minutes).
        await server.cancelAll()
        await setup.close()
        let clean = await server.shutdownRequested
        throw ExitCode(clean ? 0 : 1)
    }
}

/// The JSON-RPC methods `serve --stdio` answers; `initialize` advertises exactly these.
enum RPCMethod: String, CaseIterable {
    case initialize, generate, check, clarify, answerClarification, explain
    case auditSummary = "audit/summary", auditRecent = "audit/recent", modelsRegistry = "models/registry"
    case health, shutdown, exit
    case cancelRequest = "$/cancelRequest"
}

/// The generation setup behind the stdio server, loaded on first use so `initialize` answers at once.
actor LazySetup {
    private let modelOptions: ModelOptions
    private let observability: ObservabilityOptions
    private let grammarOptions: PipelineGrammarOptions
    private let audit: AuditService
    private var setup: GenerationSetup?

    init(modelOptions: ModelOptions, observability: ObservabilityOptions, grammarOptions: PipelineGrammarOptions, audit: AuditService) {
        self.modelOptions = modelOptions
        self.observability = observability
        self.grammarOptions = grammarOptions
        self.audit = audit
    }

    /// The setup, loaded now when it has not been yet; the audit reads its figures from then on.
    func get() throws -> GenerationSetup {
        if let setup { return setup }
        let s = try GenerationSetup.make(modelOptions: modelOptions, observability: observability, grammarOptions: grammarOptions)
        setup = s
        audit.attach(s)
        return s
    }

    func close() {
        setup?.close()
    }
}

/// The stdio server's methods: each maps JSON-RPC to a `CoderService` or `AuditService` call and
/// its answer back; the work and the parameters' checks are the services'.
struct StdioMethods {
    let service: CoderService
    let lsp: LanguageServer

    /// Registers every method; `initialize` and `shutdown` are shared with the language server.
    func register(on server: RPCServer) async {
        for method in RPCMethod.allCases {
            if let handler = handler(method) { await server.register(method.rawValue, handler) }
        }
    }

    /// Each method's handler; nil for the two the RPC server answers itself.
    private func handler(_ method: RPCMethod) -> RPCServer.Handler? {
        let (service, audit, lsp) = (service, service.audit, lsp)
        switch method {
        case .exit, .cancelRequest:
            return nil
        case .initialize:
            return { ctx in
                // The language server's capabilities, and this protocol's own methods beside them.
                var capabilities = try await lsp.initialize(ctx.params)
                capabilities["methods"] = .array(RPCMethod.allCases.map { .string($0.rawValue) })
                capabilities["streaming"] = .bool(true)
                return .object([
                    "serverInfo": .object(["name": .string("elixir-coder"), "version": .string(BuildInfo.version)]),
                    "capabilities": .object(capabilities),
                ])
            }
        case .shutdown:
            return { _ in
                lsp.shutdown()
                return .null
            }
        case .check: return { ctx in try await Self.answer { try await service.check(ctx.params) } }
        case .explain: return { ctx in try await Self.answer { try await service.explain(ctx.params) } }
        case .clarify: return { ctx in try await Self.answer { try await service.clarify(ctx.params) } }
        case .answerClarification: return { ctx in try await Self.answer { try await service.answerClarification(ctx.params) } }
        case .generate: return { ctx in try await Self.generate(ctx, service) }
        case .auditSummary: return { _ in try await Self.answer { await audit.summary() } }
        case .auditRecent:
            return { ctx in
                try await Self.answer {
                    try await audit.recent(limit: try CoderService.optional(ctx.params, "limit", as: \.int, "an integer from 1 to 1000") ?? 20)
                }
            }
        case .modelsRegistry: return { _ in try await Self.answer { try audit.registry() } }
        case .health: return { _ in try await Self.answer { await audit.health() } }
        }
    }

    /// A service's answer as JSON, its `ServiceError` as the JSON-RPC error of its kind.
    private static func answer<T: Encodable>(_ work: () async throws -> T) async throws -> JSONValue {
        do {
            let value = try await work()
            return try value as? JSONValue ?? JSONValue.encode(value)
        } catch let e as ServiceError {
            throw RPCError(e)
        }
    }

    /// `generate`, with `$/progress` notifications and, for `"stream": true`, `generate/partial` ones.
    private static func generate(_ ctx: RPCContext, _ service: CoderService) async throws -> JSONValue {
        let stream: Bool
        do { stream = try CoderService.optional(ctx.params, "stream", as: \.bool, "a boolean") ?? false } catch { throw RPCError(error) }
        let id = ctx.id
        let notify = ctx.notify
        // Notifications go out in the order they were made, and all before the result: one
        // sender drains a queue, and the result waits for it.
        let (outbox, posted) = AsyncStream<(String, JSONValue)>.makeStream()
        let sender = Task { for await (method, body) in outbox { await notify(method, body) } }
        defer { posted.finish() }
        let report: @Sendable (String) -> Void = { message in
            posted.yield(("$/progress", .object(["token": id, "value": .object(["kind": .string("report"), "message": .string(message)])])))
        }
        var live: (@Sendable (Int, Int, LiveDelta) -> Void)?
        if stream {
            live = { attempt, candidate, delta in
                var o: [String: JSONValue] = ["id": id, "attempt": .number(Double(attempt)), "candidate": .number(Double(candidate))]
                switch delta {
                case .text(let t): o["delta"] = .string(t)
                case .rollback(let t): o["rollback"] = .string(t)
                }
                posted.yield(("generate/partial", .object(o)))
            }
        }
        let result = try await answer { try await service.generate(ctx.params, progress: report, onToken: live) }
        posted.finish()
        await sender.value
        return result
    }
}

extension RPCError {
    /// The JSON-RPC error docs/protocol.md gives for a service's error: a part that is missing
    /// (the checker, the retrieval index) is an internal error there.
    init(_ error: ServiceError) {
        switch error.code {
        case .invalidParams: self.init(.invalidParams, error.message)
        case .unavailable, .internalError: self.init(.internalError, error.message)
        }
    }
}
