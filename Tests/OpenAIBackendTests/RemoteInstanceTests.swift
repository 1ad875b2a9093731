@testable import Checks
import Engine
import Foundation
import OpenAIBackend
@testable import RemoteServing
import Serving
import TestSupport
import Testing

/// Kills any prefix whose last line contains "BAD".
struct RejectBadLines: PrefixMonitor {
    func verdict(for generated: String, final: Bool) -> PrefixVerdict {
        generated.split(separator: "\n").contains { $0.contains("BAD") } ? .dead("bad line") : .viable
    }
}

@Suite("A remote server as a model instance", .serialized)
struct RemoteInstanceTests {
    @Test("the line-level monitor cuts at the last viable line")
    func lineMonitor() {
        #expect(RemoteInstance.firstDeadLine("", "a\nb\nBAD\nc\n", monitor: RejectBadLines(), final: false) == 4)
        #expect(RemoteInstance.firstDeadLine("", "a\nb\n", monitor: RejectBadLines(), final: true) == nil)
        #expect(RemoteInstance.firstDeadLine("x\n", "BAD", monitor: RejectBadLines(), final: true) == 0)
    }

    @Test("a GBNF grammar goes to the server with the request; the recorded llama.cpp answer comes back as tokens with alternatives")
    func grammarOverHTTP() async throws {
        let server = try LoopbackServer([.json(try Recorded.data("a_v1_completions_logprobs.json"))])
        defer { server.stop() }
        let remote = RemoteInstance(name: "llama", client: OpenAIClient(configuration: OpenAIConfiguration(baseURL: server.url.appendingPathComponent("v1"), maxRetries: 1)),
                                    tokenizer: Shared.tokenizer)
        var request = GenerationRequest(prompt: Shared.tokenizer.encode("```elixir\n"), maxTokens: 32, sampling: .greedy)
        let gbnf = "root ::= \"defmodule\" [ a-z]*\n"
        request.gbnf = gbnf
        let r = try await remote.generate([request])[0]
        #expect(server.requests.first?.json["grammar"] as? String == gbnf)
        #expect(server.requests.first?.json["prompt"] as? String == "```elixir\n")
        #expect(!r.tokens.isEmpty && r.alternativesOnly)
        #expect(r.tokens.allSatisfy { $0.logprob <= 0 && !$0.top.isEmpty })
    }

    @Test("generate --backend runs the whole loop against another ElixirCoder; the pool routes between embedded and remote")
    func endToEnd() async throws {
        let server = try HTTPServeProcess(["--threads", "1"])
        defer { _ = server.stop() }
        try await server.ready()
        let url = server.url.appendingPathComponent("v1").absoluteString

        let (data, status) = try runCapturingOutput([HTTPServeProcess.binary, "generate", "Write a function that doubles a number.", "--backend", url,
                                                     "--candidates", "2", "--max-attempts", "1", "--max-tokens", "48",
                                                     "--json", "--no-gate", "--no-inference-log", "--log-level", "off"])
        #expect([0, 3].contains(status))
        let r = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        #expect((r["code"] as? String)?.hasPrefix("defmodule") == true)
        #expect((r["confidence"] as? [String: Any])?["entropySource"] as? String == "top_k", "a server gives alternatives, not the distribution")

        let remote = RemoteInstance(name: "remote", client: OpenAIClient(configuration: OpenAIConfiguration(baseURL: server.url.appendingPathComponent("v1"), maxRetries: 1)),
                                    tokenizer: Shared.tokenizer)
        var settings = InstanceSettings(name: "embedded")
        settings.kernels = .exact
        let embedded = ModelInstance(model: Shared.model, tokenizer: Shared.tokenizer, settings: settings)
        defer { embedded.shutdown() }
        let pool = ServingPool()
        await pool.register(embedded, variant: "A")
        await pool.register(remote, variant: "B")
        let request = GenerationRequest(prompt: Shared.tokenizer.encode("defmodule Math do\n  def add(a, b) do"), maxTokens: 8, sampling: .greedy)
        let a = try await pool.route(name: "A").generate([request])[0]
        let b = try await pool.route(name: "B").generate([request])[0]
        #expect(a.tokens.count == 8 && b.tokens.count == 8)
        #expect(b.alternativesOnly && !a.alternativesOnly)
        #expect(a.tokens.map(\.id) == b.tokens.map(\.id), "the same model greedy through both paths")
    }
}
