import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import OpenAIBackend
import TestSupport
import Testing

/// A running `elixir-coder serve --http` on a free port.
final class HTTPServeProcess {
    let process = Process()
    let port: Int
    var url: URL { URL(string: "http://127.0.0.1:\(port)")! }

    /// The binary beside the test bundle (same build), else the release build.
    static let binary: String = {
        let beside = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("elixir-coder").path
        if FileManager.default.isExecutableFile(atPath: beside) { return beside }
        return TestPaths.repo.appendingPathComponent(".build/release/elixir-coder").path
    }()

    /// - Parameters:
    ///   - port: the port to serve on (a restart reuses its predecessor's); a free one when nil.
    ///   - environment: variables added to this process's.
    init(_ extra: [String], port: Int? = nil, environment: [String: String] = [:]) throws {
        self.port = try port ?? LoopbackServer.closedPort()
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments = ["serve", "--http", "--port", "\(self.port)"] + extra
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
    }

    /// Waits until `/health` answers.
    func ready(within seconds: Double = 60) async throws {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if let (_, r) = try? await URLSession(configuration: .ephemeral).data(from: url.appendingPathComponent("health")),
               (r as? HTTPURLResponse)?.statusCode == 200 { return }
            guard process.isRunning else { throw POSIXError(.ECHILD) }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw POSIXError(.ETIMEDOUT)
    }

    /// SIGTERM (unless it has ended), then the exit status.
    func stop() -> Int32 {
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
        return process.terminationStatus
    }
}

@Suite("elixir-coder serve --http", .serialized)
struct ServeHTTPTests {
    @Test("one ElixirCoder as another's backend: a completion with logprobs and a streamed chat, as llama.cpp answered them")
    func endToEnd() async throws {
        // Exact kernels reproduce llama.cpp's greedy tokens, so the recorded responses are the reference.
        let server = try HTTPServeProcess(["--kernels", "exact", "--threads", "2"])
        try await server.ready()
        let client = OpenAIClient(configuration: OpenAIConfiguration(baseURL: server.url.appendingPathComponent("v1"), model: "anything", maxRetries: 1))

        let recorded = try JSONSerialization.jsonObject(with: Recorded.data("a_v1_completions_logprobs.json")) as! [String: Any]
        let content = (((recorded["choices"] as! [[String: Any]])[0]["logprobs"] as! [String: Any])["content"] as! [[String: Any]]).prefix(8)
        let c = try await client.complete(CompletionRequest(.prompt(Recorded.prompt), maxTokens: 8, temperature: 0, topLogprobs: 3))
        #expect(c.tokens.map(\.token) == content.map { $0["token"] as! String })
        #expect(c.text == content.map { $0["token"] as! String }.joined())
        // Same tokens; log-probabilities within the 0.3 nats that any change of rounding moves this model by
        // (see GoldenGenerationTests).
        for (ours, theirs) in zip(c.tokens, content) {
            #expect(abs((ours.logprob ?? 0) - (theirs["logprob"] as! Double)) < 0.3, "\(ours.token.debugDescription)")
            #expect(ours.top.count == 3)
            #expect(ours.top.first?.token == ours.token)
        }
        #expect(c.finishReason == .length)
        #expect(c.usage == Completion.Usage(promptTokens: 13, completionTokens: 8))

        let req = try Recorded.json("req_d.json")
        let message = (req["messages"] as! [[String: Any]])[0]["content"] as! String
        var deltas: [String] = []
        var finished: Completion?
        for try await e in client.stream(CompletionRequest(.chat([.init(role: "user", content: message)]), maxTokens: 4, temperature: 0, topLogprobs: 2)) {
            switch e {
            case .delta(let d, _): deltas.append(d)
            case .finished(let f): finished = f
            }
        }
        let chat = try #require(finished)
        #expect(Array(deltas.filter { !$0.isEmpty }) == Array(try OpenAIClientFixtureTests.recordedDeltas().prefix(4)))
        #expect(chat.text == deltas.joined())
        #expect(chat.tokens.count == 4 && chat.tokens.allSatisfy { $0.top.count == 2 && $0.id != nil })
        #expect(chat.finishReason == .length)
        #expect(chat.usage == Completion.Usage(promptTokens: 41, completionTokens: 4))

        #expect(server.stop() == 0)
    }
}
