import ArgumentParser
import ElixirCoderApp
import ElixirCoderCore
import Engine
import Foundation
import Logging
import OpenAIServer
import Serving

extension ServeCommand {
    /// `serve --http`: the embedded model behind the OpenAI API until SIGINT or SIGTERM.
    func runHTTP() async throws {
        let config = try Configuration.load()
        let loaded = try modelOptions.settings(config: config).load()
        let instance = loaded.instance(name: "default")
        defer { instance.shutdown() }

        var settings = OpenAIServer.Settings(modelName: URL(fileURLWithPath: loaded.path).deletingPathExtension().lastPathComponent)
        settings.defaultMaxTokens = config.maxTokens ?? settings.defaultMaxTokens
        var sampling = settings.defaultSampling
        sampling.temperature = config.temperature ?? sampling.temperature
        sampling.topK = config.topK ?? sampling.topK
        sampling.topP = config.topP ?? sampling.topP
        sampling.minP = config.minP ?? sampling.minP
        sampling.seed = config.seed ?? sampling.seed
        settings.defaultSampling = sampling
        settings.limits.maxConnections = maxConnections ?? settings.limits.maxConnections
        settings.limits.requestDeadline = requestDeadline ?? settings.limits.requestDeadline
        if let tokenEnv {
            guard let token = ProcessInfo.processInfo.environment[tokenEnv], !token.isEmpty else {
                throw ValidationError("--token-env \(tokenEnv): that environment variable is not set")
            }
            settings.limits.bearerToken = token
        }

        let logger = Logger(label: "elixir-coder.http") { StreamLogHandler.standardError(label: $0) }
        let server = try OpenAIServer(instance: instance, settings: settings, port: port, logger: logger)
        Stderr.print("elixir-coder serve: OpenAI API on http://127.0.0.1:\(server.port)/v1 (model \(settings.modelName))")

        // SIGINT and SIGTERM end the server cleanly: cancelling `run()` closes the socket.
        let serving = Task { await server.run() }
        let signals = [SIGINT, SIGTERM].map { sig -> DispatchSourceSignal in
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig)
            source.setEventHandler { serving.cancel() }
            source.resume()
            return source
        }
        await serving.value
        signals.forEach { $0.cancel() }
        Stderr.print("elixir-coder serve: stopped")
    }
}
