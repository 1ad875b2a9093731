import ArgumentParser
import ElixirCoderCore
import Engine
import Checks
import Foundation
import Pipeline
import RPC
import Serving

/// `elixir-coder serve --stdio`: JSON-RPC 2.0 for editor plugins; `serve --http`: the OpenAI API.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve JSON-RPC 2.0 over stdio with Content-Length framing (for editor plugins).",
        discussion: "Methods: initialize, generate, check, shutdown, exit, $/cancelRequest. While a request runs the server sends $/progress notifications; generate with \"stream\": true also sends generate/partial notifications. stdout carries protocol messages only; logs go to stderr."
    )

    @Flag(help: "Speak JSON-RPC over standard input and output.") var stdio = false
    @Flag(help: "Instead, serve the OpenAI API on 127.0.0.1 only: POST /v1/completions, POST /v1/chat/completions (stream: true for server-sent events), GET /v1/models, GET /health.") var http = false
    @Option(help: "The port for --http (0 picks a free one).") var port: Int = 8080
    @OptionGroup var modelOptions: ModelOptions

    func validate() throws {
        guard stdio != http else { throw ValidationError("say how to serve: --stdio or --http") }
        guard (0...65535).contains(port) else { throw ValidationError("--port must be between 0 and 65535") }
    }

    func run() async throws {
        if http { return try await runHTTP() }
        let out = FileHandle.standardOutput
        let server = RPCServer(write: { out.write($0) })
        let state = ServerState(modelOptions: modelOptions)
        await state.register(on: server)

        // A reader thread turns stdin into frames; requests run concurrently on the server.
        let (frames, continuation) = AsyncStream<MessageFramer.Frame>.makeStream()
        let reader = Thread {
            var framer = MessageFramer()
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
            }
            if await server.shouldExit { break }
        }
        await server.drain()
        await state.close()
        let clean = await server.shutdownRequested
        throw ExitCode(clean ? 0 : 1)
    }
}

/// The model and pipeline behind the server, loaded on first use so `initialize` answers at once.
actor ServerState {
    let modelOptions: ModelOptions
    private var generator: CodeGenerator?
    private let pool: CheckerPool?
    private let checker: ElixirCandidateChecker?

    init(modelOptions: ModelOptions) {
        self.modelOptions = modelOptions
        pool = try? CheckerPool()
        checker = pool.map { ElixirCandidateChecker(pool: $0) }
    }

    func close() {
        generator?.instance.shutdown()
    }

    private func codeGenerator() throws -> CodeGenerator {
        if let generator { return generator }
        let loaded = try modelOptions.load(config: try Configuration.load())
        var settings = InstanceSettings(name: "default")
        settings.threads = loaded.threads
        settings.kernels = modelOptions.kernels.mode
        guard let checker else { throw RPCError(.internalError, "the Elixir checker is unavailable") }
        let g = CodeGenerator(instance: ModelInstance(model: loaded.model, tokenizer: loaded.tokenizer, settings: settings),
                              templates: try PromptTemplates(), checker: checker)
        generator = g
        return g
    }

    func register(on server: RPCServer) async {
        await server.register("initialize") { _ in
            .object([
                "serverInfo": .object(["name": .string("elixir-coder"), "version": .string("0.1.0")]),
                "capabilities": .object([
                    "methods": .array(["initialize", "generate", "check", "shutdown", "exit", "$/cancelRequest"].map { .string($0) }),
                    "streaming": .bool(true),
                ]),
            ])
        }
        await server.register("shutdown") { _ in .null }
        let pool = self.pool
        await server.register("check") { ctx in
            guard let code = ctx.params["code"]?.string else { throw RPCError(.invalidParams, "check needs params.code, a string") }
            guard code.utf8.count <= 1 << 20 else { throw RPCError(.invalidParams, "code is larger than 1 MiB") }
            guard let pool else { throw RPCError(.internalError, "the Elixir checker is unavailable") }
            let findings = try await pool.findings(in: code)
            return .object(["clean": .bool(findings.isEmpty), "findings": try JSONValue.encode(findings)])
        }
        await server.register("generate") { [self] ctx in
            guard let task = ctx.params["task"]?.string, !task.isEmpty else { throw RPCError(.invalidParams, "generate needs params.task, a non-empty string") }
            var o = GenerateOptions()
            if let v = ctx.params["candidates"] { guard let n = v.int, n >= 1, n <= 16 else { throw RPCError(.invalidParams, "candidates must be an integer from 1 to 16") }; o.candidates = n }
            if let v = ctx.params["maxAttempts"] { guard let n = v.int, n >= 1, n <= 10 else { throw RPCError(.invalidParams, "maxAttempts must be an integer from 1 to 10") }; o.maxAttempts = n }
            if let v = ctx.params["maxTokens"] { guard let n = v.int, n >= 1, n <= 4096 else { throw RPCError(.invalidParams, "maxTokens must be an integer from 1 to 4096") }; o.maxTokens = n }
            if let v = ctx.params["seed"] { guard let n = v.int, n >= 0 else { throw RPCError(.invalidParams, "seed must be a non-negative integer") }; o.sampling.seed = UInt64(n) }
            if let v = ctx.params["temperature"] { guard let t = v.double, t >= 0 else { throw RPCError(.invalidParams, "temperature must be a number, 0 or more") }; o.sampling.temperature = Float(t) }
            o.context = ctx.params["context"]?.string
            let stream = ctx.params["stream"]?.bool ?? false
            let generator = try await self.codeGenerator()
            let id = ctx.id
            let notify = ctx.notify
            let report: @Sendable (String) -> Void = { message in
                Task { await notify("$/progress", .object(["token": id, "value": .object(["kind": .string("report"), "message": .string(message)])])) }
            }
            var live: (@Sendable (Int, Int, String) -> Void)?
            if stream {
                live = { attempt, candidate, delta in
                    Task { await notify("generate/partial", .object(["id": id, "attempt": .number(Double(attempt)), "candidate": .number(Double(candidate)), "delta": .string(delta)])) }
                }
            }
            let result = try await generator.generate(task: task, options: o, progress: report, onToken: live)
            try Task.checkCancellation()
            return try JSONValue.encode(result)
        }
    }
}
