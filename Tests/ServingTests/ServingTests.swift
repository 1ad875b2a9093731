import TestSupport
import Engine
import Foundation
import Serving
import Testing
import Tokenizer

@Suite("Serving", .serialized)
struct ServingTests {
    func instance(_ name: String, maxBatch: Int = 16) -> ModelInstance {
        var s = InstanceSettings(name: name)
        s.kernels = .exact
        s.maxBatch = maxBatch
        return ModelInstance(model: Shared.model, tokenizer: Shared.tokenizer, settings: s)
    }

    let prompts = ["defmodule Math do\n  def add(a, b) do", "defmodule Lists do\n  def sum(list) do", "defmodule Greeter do\n  def hello(name) do",
                   "defmodule Stack do\n  def push(stack, x) do"]

    func request(_ i: Int, tokens: Int = 8) -> GenerationRequest {
        GenerationRequest(prompt: Shared.tokenizer.encode(prompts[i % prompts.count]), maxTokens: tokens, sampling: .greedy)
    }

    @Test("concurrent callers share the batch and each gets its own result, as if alone")
    func concurrent() async throws {
        let inst = instance("a")
        defer { inst.shutdown() }
        let alone = Generator(context: InferenceContext(model: Shared.model, kernels: .exact), tokenizer: Shared.tokenizer)
        let expected = (0..<4).map { alone.generate([request($0)])[0].tokens.map(\.id) }
        let results = try await withThrowingTaskGroup(of: (Int, [Int]).self) { group in
            for i in 0..<12 {
                group.addTask { (i, try await inst.generate([self.request(i)])[0].tokens.map(\.id)) }
            }
            var out: [Int: [Int]] = [:]
            for try await (i, ids) in group { out[i] = ids }
            return out
        }
        #expect(results.count == 12)
        for (i, ids) in results { #expect(ids == expected[i % 4], "request \(i)") }
    }

    @Test("batch results come back in request order")
    func order() async throws {
        let inst = instance("b")
        defer { inst.shutdown() }
        let reqs = [request(0, tokens: 3), request(1, tokens: 9), request(2, tokens: 5)]
        let results = try await inst.generate(reqs)
        #expect(results.map(\.tokens.count) == [3, 9, 5])
        #expect(results.map(\.promptTokens) == reqs.map(\.prompt.count))
    }

    @Test("streaming delivers tokens as events and then the result")
    func streaming() async throws {
        let inst = instance("c")
        defer { inst.shutdown() }
        var text = ""
        var tokens = 0
        var final: GenerationResult?
        for try await e in inst.stream([request(0, tokens: 10)])[0] {
            switch e {
            case .token(_, let delta): tokens += 1; text += delta
            case .repair: Issue.record("repair is off by default")
            case .finished(let r): final = r
            }
        }
        let r = try #require(final)
        #expect(tokens == 10)
        #expect(text == r.text)
    }

    @Test("streaming a copy of code in the prompt (steps that accept drafted tokens) delivers every token")
    func streamingDrafts() async throws {
        let inst = instance("d")
        defer { inst.shutdown() }
        // The engine's speculation test shows more than ten drafted tokens accepted on this task.
        let prompt = CopyTask.prompt, sampling = CopyTask.sampling
        var text = ""
        var tokens = 0
        var final: GenerationResult?
        for try await e in inst.stream([GenerationRequest(prompt: prompt, maxTokens: 80, sampling: sampling, stop: ["```"])])[0] {
            switch e {
            case .token(_, let delta): tokens += 1; text += delta
            case .repair: Issue.record("repair is off by default")
            case .finished(let r): final = r
            }
        }
        let r = try #require(final)
        #expect(r.tokens.count > 20)
        #expect(tokens == r.tokens.count)
        #expect(text == r.text)
    }

    @Test("a cancelled request leaves the batch; the others finish")
    func cancellation() async throws {
        let inst = instance("d")
        defer { inst.shutdown() }
        let long = inst.stream([request(0, tokens: 400)])[0]
        let task = Task { () -> Int in
            var n = 0
            do { for try await e in long { if case .token = e { n += 1 } } } catch {}
            return n
        }
        let other = Task { try await inst.generate([request(1, tokens: 20)])[0] }
        try await Task.sleep(for: .milliseconds(300))
        task.cancel()
        let seen = await task.value
        #expect(seen < 400)
        let r = try await other.value
        #expect(r.tokens.count == 20)
        // The instance keeps serving after the cancellation.
        #expect(try await inst.generate([request(2, tokens: 4)])[0].tokens.count == 4)
        #expect(inst.load == 0)
    }

    @Test("a request cancelled while its long prompt prefills stops prefilling at the next pass")
    func cancellationDuringPrefill() async throws {
        var settings = InstanceSettings(name: "prefill")
        settings.kernels = .exact
        let inst = ModelInstance(model: Shared.model, tokenizer: Shared.tokenizer, settings: settings)
        defer { inst.shutdown() }
        // About 3,000 tokens: dozens of 64-row passes, seconds of prefill.
        let text = (0..<160).map { "def f\($0)(x), do: x * \($0) + \($0 % 7)\n" }.joined()
        let prompt = Shared.tokenizer.encode("defmodule Long do\n" + text)
        #expect(prompt.count > 2_500)
        let stream = inst.stream([GenerationRequest(prompt: prompt, maxTokens: 4, sampling: .greedy)])[0]
        let task = Task { () -> Int in
            var tokens = 0
            do { for try await e in stream { if case .token = e { tokens += 1 } } } catch {}
            return tokens
        }
        try await Task.sleep(for: .milliseconds(150))
        task.cancel()
        #expect(await task.value == 0)
        // The instance is free again at once, and computed only part of the prompt.
        #expect(try await inst.generate([request(0, tokens: 2)])[0].tokens.count == 2)
        #expect(inst.activity.promptRows < prompt.count / 2, "\(inst.activity.promptRows) prompt rows computed of \(prompt.count)")
    }

    @Test("an injected failure fails in-flight requests with an error, never a hang, and the instance recovers")
    func failure() async throws {
        let inst = instance("e")
        defer { inst.shutdown() }
        let inflight = Task { try await inst.generate([request(0, tokens: 300)]) }
        try await Task.sleep(for: .milliseconds(200))
        inst.injectFailure()
        await #expect(throws: ServingError.self) { try await inflight.value }
        #expect(inst.restarts == 1)
        let after = try await inst.generate([request(1, tokens: 5)])
        #expect(after[0].tokens.count == 5)
    }

    @Test("the router picks by name, by stable key, and balances replicas by load")
    func routing() async throws {
        let pool = ServingPool()
        let a1 = instance("a1"), a2 = instance("a2"), b = instance("b1")
        await pool.register(a1, variant: "A", weight: 1)
        await pool.register(a2, variant: "A", weight: 1)
        await pool.register(b, variant: "B", weight: 1)
        defer { Task { await pool.shutdown() } }
        #expect(try await pool.route(name: "b1") === b)
        #expect(try await pool.route(name: "B") === b)
        let k1 = try await pool.route(key: "user-42"), k2 = try await pool.route(key: "user-42")
        #expect(k1 === k2 || (k1 !== b && k2 !== b), "a key always lands on the same variant")
        var variants = Set<String>()
        for i in 0..<40 { variants.insert(try await pool.route(key: "k\(i)") === b ? "B" : "A") }
        #expect(variants == ["A", "B"])
        // Busy a1: the next request for variant A goes to a2.
        let busy = a1.stream([request(0, tokens: 200)])
        try await Task.sleep(for: .milliseconds(100))
        #expect(try await pool.route(name: "A") === a2)
        a1.shutdown()
        for s in busy { do { for try await _ in s {} } catch {} }
        await #expect(throws: ServingError.self) { try await pool.route(name: "nope") }
    }
}
