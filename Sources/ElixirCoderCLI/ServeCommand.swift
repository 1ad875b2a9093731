import ArgumentParser
import CommandLineOptions
import Checks
import Clarification
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
        let state = ServerState(modelOptions: modelOptions, observability: observability, grammarOptions: grammarOptions)
        let lsp = LanguageServer(server: server, services: EditorServices(setup: { try await state.generationSetup() }))
        await lsp.register()
        await state.register(on: server, languageServer: lsp)

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
        await state.close()
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

/// The model and pipeline behind the server, loaded on first use so `initialize` answers at once.
actor ServerState {
    let modelOptions: ModelOptions
    let observability: ObservabilityOptions
    let grammarOptions: PipelineGrammarOptions
    private var setup: GenerationSetup?
    private let pool: CheckerPool?
    private let sessions = ClarificationSessions()
    /// The audit methods' answers, shared with `serve --http`.
    private let audit: AuditService

    init(modelOptions: ModelOptions, observability: ObservabilityOptions, grammarOptions: PipelineGrammarOptions) {
        self.modelOptions = modelOptions
        self.observability = observability
        self.grammarOptions = grammarOptions
        let pool = try? CheckerPool()
        self.pool = pool
        audit = AuditService(checker: pool) {
            let config = try Configuration.load()
            return try ModelRegistry.resolve(active: modelOptions.model ?? config.model, shadow: observability.shadowModel ?? config.shadowModel).0
        }
    }

    func close() {
        setup?.close()
    }

    func generationSetup() throws -> GenerationSetup {
        if let setup { return setup }
        let s = try GenerationSetup.make(modelOptions: modelOptions, observability: observability, grammarOptions: grammarOptions)
        setup = s
        audit.attach(s)
        return s
    }

    private func count(_ ok: Bool) { audit.count(ok: ok) }

    /// Generate options for a request: the setup's (config file, environment, gate, grammar),
    /// then the request's fields. `"gate": false` turns the confidence gate off for this request,
    /// as `--no-gate` does.
    static func generateOptions(_ params: JSONValue, setup: GenerationSetup) throws -> GenerateOptions {
        var o = try setup.options()
        if let v = params["candidates"] { guard let n = v.int, n >= 1, n <= 16 else { throw RPCError(.invalidParams, "candidates must be an integer from 1 to 16") }; o.candidates = n }
        if let v = params["maxAttempts"] { guard let n = v.int, n >= 1, n <= 10 else { throw RPCError(.invalidParams, "maxAttempts must be an integer from 1 to 10") }; o.maxAttempts = n }
        if let v = params["maxTokens"] { guard let n = v.int, n >= 1, n <= 4096 else { throw RPCError(.invalidParams, "maxTokens must be an integer from 1 to 4096") }; o.maxTokens = n }
        if let v = params["seed"] { guard let n = v.int, n >= 0 else { throw RPCError(.invalidParams, "seed must be a non-negative integer") }; o.sampling.seed = UInt64(n) }
        if let v = params["temperature"] { guard let t = v.double, (0...2).contains(t) else { throw RPCError(.invalidParams, "temperature must be a number from 0 to 2") }; o.sampling.temperature = Float(t) }
        if let v = params["context"] { guard let c = v.string else { throw RPCError(.invalidParams, "context must be a string of Elixir code") }; o.context = c }
        if let v = params["tests"] { guard let t = v.string else { throw RPCError(.invalidParams, "tests must be a string of ExUnit test code") }; o.tests = t }
        if let v = params["runExamples"] { guard let b = v.bool else { throw RPCError(.invalidParams, "runExamples must be a boolean") }; o.runExamples = b }
        if let v = params["earlyStop"] { guard let b = v.bool else { throw RPCError(.invalidParams, "earlyStop must be a boolean") }; o.earlyStop = b }
        if let v = params["gate"] {
            guard let b = v.bool else { throw RPCError(.invalidParams, "gate must be a boolean") }
            if !b { o.gating = nil }
        }
        return o
    }

    /// An optional parameter of one type: absent is nil, anything else of the wrong type -32602.
    static func optional<T>(_ params: JSONValue, _ name: String, as read: (JSONValue) -> T?, _ expected: String) throws -> T? {
        guard let v = params[name] else { return nil }
        guard let t = read(v) else { throw RPCError(.invalidParams, "\(name) must be \(expected)") }
        return t
    }

    /// Registers every method; `initialize` and `shutdown` are shared with the language server.
    func register(on server: RPCServer, languageServer: LanguageServer) async {
        for method in RPCMethod.allCases {
            if let handler = handler(method, languageServer) { await server.register(method.rawValue, handler) }
        }
    }

    /// Each method's handler; nil for the two the RPC server answers itself.
    private func handler(_ method: RPCMethod, _ lsp: LanguageServer) -> RPCServer.Handler? {
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
        case .check:
            let pool = self.pool
            return { ctx in
                guard let code = ctx.params["code"]?.string else { throw RPCError(.invalidParams, "check needs params.code, a string") }
                guard code.utf8.count <= 1 << 20 else { throw RPCError(.invalidParams, "code is larger than 1 MiB") }
                guard let pool else { throw RPCError(.internalError, "the Elixir checker is unavailable") }
                let findings = try await pool.findings(in: code)
                return .object(["clean": .bool(findings.isEmpty), "findings": try JSONValue.encode(findings)])
            }
        case .auditSummary:
            return { [audit] _ in try JSONValue.encode(await audit.summary()) }
        case .auditRecent:
            return { [audit] ctx in
                let limit = try Self.optional(ctx.params, "limit", as: \.int, "an integer from 1 to 1000") ?? 20
                do { return try JSONValue.encode(try await audit.recent(limit: limit)) } catch let e as ServiceError { throw RPCError(.invalidParams, e.message) }
            }
        case .modelsRegistry:
            return { [audit] _ in try JSONValue.encode(try audit.registry()) }
        case .health:
            return { [audit] _ in try JSONValue.encode(await audit.health()) }
        case .clarify:
            return { [self] ctx in
                guard let task = ctx.params["task"]?.string, !task.isEmpty else { throw RPCError(.invalidParams, "clarify needs params.task, a non-empty string") }
                let setup = try await self.generationSetup()
                var settings = ClarifySettings()
                if let v = ctx.params["samples"] { guard let n = v.int, (2...16).contains(n) else { throw RPCError(.invalidParams, "samples must be an integer from 2 to 16") }; settings.samples = n }
                let (pending, analysis) = try await setup.clarifier(settings).askClarification(task: task, sessions: self.sessions)
                guard case .object(var o) = try JSONValue.encode(analysis) else { return .null }
                o["id"] = pending.map { .string($0.id) } ?? .null
                o["question"] = try pending.map { try JSONValue.encode($0.question) } ?? .null
                return .object(o)
            }
        case .answerClarification:
            return { [self] ctx in
                guard let id = ctx.params["id"]?.string else { throw RPCError(.invalidParams, "answerClarification needs params.id, the id clarify returned") }
                guard let answer = ctx.params["answer"]?.string, !answer.isEmpty else { throw RPCError(.invalidParams, "answerClarification needs params.answer, an option number or text") }
                let setup = try await self.generationSetup()
                let o = try Self.generateOptions(ctx.params, setup: setup)
                do {
                    let result = try await Clarifier.answerClarification(id: id, answer: answer, sessions: self.sessions) { task in
                        try await setup.generate(task: task, options: o)
                    }
                    return try JSONValue.encode(result)
                } catch let e as ClarificationError {
                    throw RPCError(.invalidParams, e.description)
                }
            }
        case .explain:
            return { [self] ctx in
                guard let code = ctx.params["code"]?.string else { throw RPCError(.invalidParams, "explain needs params.code, a string") }
                guard code.utf8.count <= 1 << 20 else { throw RPCError(.invalidParams, "code is larger than 1 MiB") }
                var line: Int?
                if let v = ctx.params["line"] { guard let n = v.int, n >= 1 else { throw RPCError(.invalidParams, "line must be a positive integer") }; line = n }
                let check = try Self.optional(ctx.params, "check", as: \.string, "a check id such as DOS.StringToAtom")
                let useModel = try Self.optional(ctx.params, "model", as: \.bool, "a boolean") ?? true
                let setup = try await self.generationSetup()
                guard let explainer = try setup.explainer(useModel: useModel) else { throw RPCError(.internalError, "the retrieval index is unavailable; run elixir-coder index build") }
                return try JSONValue.encode(try await explainer.explainAll(code: code, line: line, check: check))
            }
        case .generate:
            return { [self] ctx in try await self.generate(ctx) }
        }
    }

    private func generate(_ ctx: RPCContext) async throws -> JSONValue {
        let started = Date()
        guard let task = ctx.params["task"]?.string, !task.isEmpty else { throw RPCError(.invalidParams, "generate needs params.task, a non-empty string") }
        let setup = try generationSetup()
        var o = try Self.generateOptions(ctx.params, setup: setup)
        let stream = try Self.optional(ctx.params, "stream", as: \.bool, "a boolean") ?? false
        let id = ctx.id
        let notify = ctx.notify
        // Notifications go out in the order they were made, and all before the result: one
        // sender drains a queue, and the result waits for it.
        let (outbox, posted) = AsyncStream<(String, JSONValue)>.makeStream()
        let sender = Task { for await (method, body) in outbox { await notify(method, body) } }
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
        let result: GenerateResult
        defer { posted.finish() }
        do {
            result = try await setup.generate(task: task, options: o, progress: report, onToken: live)
            posted.finish()
            await sender.value
            count(true)
        } catch let error as PromptTooLong {
            count(false)
            throw RPCError(.invalidParams, error.message)
        } catch {
            count(false)
            throw error
        }
        try Task.checkCancellation()
        if let path = setup.writeRunLog(command: "serve", started: started, results: [result], timings: result.timings) {
            Stderr.print("run log: \(path.path)")
        }
        return try JSONValue.encode(result)
    }
}
