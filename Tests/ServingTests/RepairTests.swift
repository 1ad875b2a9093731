import Engine
import Foundation
import Serving
import TestSupport
import Testing
import Tokenizer

/// Bans every token whose text contains a letter, as a stand-in for a grammar mask.
struct BanLetter: LogitsProcessor {
    let banned: Set<Int>
    init(_ letter: UInt8) {
        banned = Set(Shared.tokenizer.tokenBytes.indices.filter { Shared.tokenizer.tokenBytes[$0].contains(letter) })
    }
    mutating func process(logits: UnsafeMutableBufferPointer<Float>) { for t in banned where t < logits.count { logits[t] = -.infinity } }
    mutating func didSample(token: Int) {}
}

/// Allows only the tokens of one short text, so the output must repeat.
struct OnlyTokens: LogitsProcessor {
    let allowed: Set<Int>
    mutating func process(logits: UnsafeMutableBufferPointer<Float>) { for i in logits.indices where !allowed.contains(i) { logits[i] = -.infinity } }
    mutating func didSample(token: Int) {}
}

@Suite("Confidence repair", .serialized)
struct RepairTests {
    static func instance(_ name: String) -> ModelInstance {
        var s = InstanceSettings(name: name)
        s.kernels = .exact
        return ModelInstance(model: Shared.model, tokenizer: Shared.tokenizer, settings: s)
    }

    static func request(_ mode: RepairPolicy.Mode, threshold: Float = 0.5, tokens: Int = 24, configure: (inout RepairPolicy) -> Void = { _ in }) -> GenerationRequest {
        var sampling = SamplingParameters()
        sampling.seed = 11
        sampling.topLogprobs = 1
        var r = GenerationRequest(prompt: Shared.tokenizer.encode("defmodule Greeter do\n  def hello(name) do"), maxTokens: tokens, sampling: sampling)
        r.repair.mode = mode
        r.repair.threshold = threshold
        configure(&r.repair)
        return r
    }

    @Test("shadow: low-confidence draws are replaced by more confident ones, within the budget; events show each repair before its token")
    func shadow() async throws {
        let inst = Self.instance("repair-shadow")
        defer { inst.shutdown() }
        var events: [GenerationEvent] = []
        for try await e in inst.stream([Self.request(.shadow, threshold: 1.01) { $0.maxLiveRepairs = 3; $0.cooldownTokens = 0 }])[0] { events.append(e) }
        guard case .finished(let result) = events.last else { Issue.record("no result"); return }
        #expect(!result.repairs.isEmpty && result.repairs.count <= 3, "the budget caps repairs")
        for r in result.repairs {
            #expect(r.replacement.logprob > r.original.logprob)
            #expect(!r.cleared, "nothing clears a threshold above 1")
            #expect(result.tokens[r.position] == r.replacement)
        }
        for (i, e) in events.enumerated() {
            if case .repair(let r) = e, case .token(let t, _) = events[i + 1] { #expect(t == r.replacement) }
        }
        let off = try await inst.generate([Self.request(.off)])[0]
        #expect(off.repairs.isEmpty)
    }

    @Test("a repaired token still satisfies the logits processor (the mask)")
    func respectsMask() async throws {
        let inst = Self.instance("repair-mask")
        defer { inst.shutdown() }
        let ban = BanLetter(UInt8(ascii: "e"))
        let r = try await inst.generate([Self.request(.shadow, threshold: 0.9) { $0.cooldownTokens = 0 }], processors: [ban])[0]
        #expect(!r.repairs.isEmpty)
        for t in r.tokens { #expect(!ban.banned.contains(t.id)) }
    }

    @Test("server mode keeps only tokens within min-p of the best")
    func server() async throws {
        let inst = Self.instance("repair-server")
        defer { inst.shutdown() }
        let r = try await inst.generate([Self.request(.server, threshold: 0.5)])[0]
        for t in r.tokens { #expect(t.logprob >= (t.top.first?.logprob ?? 0) + log(0.5) - 1e-4) }
    }

    @Test("the anti-loop guard stops a generation that keeps repeating")
    func antiLoop() async throws {
        let inst = Self.instance("repair-loop")
        defer { inst.shutdown() }
        let only = OnlyTokens(allowed: Set(Shared.tokenizer.encode(" ab")))
        let r = try await inst.generate([Self.request(.shadow, tokens: 200) { $0.maxLiveRepairs = 0 }], processors: [only])[0]
        #expect(r.finishReason == .repetition)
        #expect(r.repetitionHits == 3)
        #expect(r.tokens.count < 200)
    }

    @Test("the repetition detector: long tails, n-grams, long repeated lines; short lines like `end` may repeat")
    func detector() {
        var d = RepetitionDetector()
        let tail = Array("defmodule A do\n  def f(x), do: x * 2 + 1 # note this\n".utf8)
        let first = d.hit(text: tail + tail, tokens: Array(0..<40))
        let second = d.hit(text: tail + tail + tail, tokens: Array(0..<41))
        #expect(first)
        #expect(!second, "one hit per stretch")
        let lines = RepetitionDetector()
        let code = Array("    Enum.map(list, fn x -> x end)\n    Enum.map(list, fn x -> x end)\n".utf8)
        #expect(lines.isRepeating(text: code, tokens: Array(0..<10)))
        #expect(!RepetitionDetector().isRepeating(text: Array("    end\n  end\nend\n".utf8), tokens: Array(0..<10)))
        #expect(RepetitionDetector().isRepeating(text: [], tokens: [1, 2, 3, 4, 5, 6, 1, 2, 3, 4, 5, 6, 1, 2, 3, 4, 5, 6]))
    }
}
