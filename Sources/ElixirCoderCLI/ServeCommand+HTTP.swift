import ArgumentParser
import Checks
import CommandLineOptions
import ElixirCoderApp
import ElixirCoderCore
import Engine
import Foundation
import Glibc
import Logging
import OpenAIServer
import Serving

extension ServeCommand {
    /// `serve --http`: the embedded model behind the OpenAI API, ElixirCoder's own API and the
    /// audit panel, until SIGINT or SIGTERM.
    func runHTTP() async throws {
        var address = in_addr()
        guard host == "localhost" || inet_pton(AF_INET, host, &address) == 1 else {
            throw ValidationError("--host '\(host)' is not an IPv4 address such as 127.0.0.1 or 0.0.0.0")
        }
        let config = try Configuration.load()
        if !Self.isLoopback(host) {
            Stderr.print("warning: --host \(host) serves beyond this machine: anyone who reaches \(host):\(port) can use the model and read the audit"
                          + (tokenEnv == nil ? "; set --token-env to require a bearer token" : "") + "; only HTTP, no TLS")
        }
        let setup = try GenerationSetup.make(modelOptions: modelOptions, observability: observability, grammarOptions: grammarOptions)
        defer { setup.close() }
        guard let instance = setup.observed.primary.instance as? ModelInstance else {
            throw ValidationError("serve --http serves the embedded model; drop --backend")
        }

        var settings = OpenAIServer.Settings(modelName: URL(fileURLWithPath: setup.registry.active).deletingPathExtension().lastPathComponent)
        settings.defaultMaxTokens = config.maxTokens ?? settings.defaultMaxTokens
        settings.defaultSampling.apply(config)
        settings.limits.maxConnections = maxConnections ?? settings.limits.maxConnections
        settings.limits.requestDeadline = requestDeadline ?? settings.limits.requestDeadline
        if !Self.isLoopback(host) { settings.limits.acceptedHost = host == "0.0.0.0" ? "*" : host.lowercased() }
        if let tokenEnv {
            guard let token = ProcessInfo.processInfo.environment[tokenEnv], !token.isEmpty else {
                throw ValidationError("--token-env \(tokenEnv): that environment variable is not set")
            }
            settings.limits.bearerToken = token
        }

        let audit = AuditService(checker: setup.observed.primary.monitorPool) { setup.registry }
        audit.attach(setup)
        let service = CoderService(setup: { setup }, checker: setup.observed.primary.monitorPool, audit: audit)
        let logger = Logger(label: "elixir-coder.http") { StreamLogHandler.standardError(label: $0) }
        let server = try OpenAIServer(instance: instance, settings: settings, host: host, port: port, app: try AppRoutes(service: service), logger: logger)
        let base = "http://\(host == "0.0.0.0" ? "127.0.0.1" : host):\(server.port)"
        Stderr.print("elixir-coder serve: the audit panel on \(base)/ and the OpenAI API on \(base)/v1 (model \(settings.modelName))")

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

    /// 127.x.y.z or localhost: the addresses no other machine can reach.
    static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host.hasPrefix("127.")
    }
}
