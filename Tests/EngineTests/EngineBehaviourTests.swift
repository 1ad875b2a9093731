import TestSupport
import Foundation
import GGUF
import Testing
@testable import Engine
import Tokenizer

/// Reaches LlamaConfig through the public model initializer path.
enum LlamaConfigProbe {
    static func load(_ f: GGUFFile) throws -> LlamaConfig { try LlamaConfig(gguf: f) }
}

/// A processor that forbids some tokens and records what it saw.
struct BanTokens: LogitsProcessor {
    let banned: Set<Int>
    var seen: [Int] = []
    mutating func process(logits: UnsafeMutableBufferPointer<Float>) {
        for t in banned { logits[t] = -.infinity }
    }
    mutating func didSample(token: Int) { seen.append(token) }
}

/// A monitor that finds everything viable and counts what it was asked.
final class CountingMonitor: PrefixMonitor, @unchecked Sendable {
    private let lock = NSLock()
    private(set) var texts: [String] = []
    func verdict(for generated: String, final: Bool) -> PrefixVerdict {
        lock.lock()
        texts.append(generated)
        lock.unlock()
        return .viable
    }
}

@Suite("Engine behaviour", .serialized)
struct EngineBehaviourTests {
    let generator = Generator(context: InferenceContext(model: Shared.model, kernels: .exact), tokenizer: Shared.tokenizer)
    let prompt = Shared.tokenizer.encode("defmodule Greeter do\n  def hello(name) do")

    @Test("tokens banned at the start cannot come first and may still come later")
    func bannedAtStart() throws {
        let free = generator.generate([GenerationRequest(prompt: prompt, maxTokens: 8, sampling: .greedy)])[0].tokens.map(\.id)
        var request = GenerationRequest(prompt: prompt, maxTokens: 8, sampling: .greedy)
        request.bannedAtStart = [free[0]]
        let banned = generator.generate([request])[0].tokens.map(\.id)
        #expect(banned.first != nil && banned.first != free[0], "the greedy first token \(free[0]) is banned")
        // A token the banned run draws later, banned at the start too, is still drawn there.
        let k = try #require(banned.indices.dropFirst().first { banned[$0] != banned[0] })
        request.bannedAtStart = [free[0], banned[k]]
        #expect(generator.generate([request])[0].tokens.map(\.id) == banned)
    }

    @Test("candidates sharing a prompt prefill it once and match a lone greedy run")
    func sharedPrefix() {
        let single = generator.generate([GenerationRequest(prompt: prompt, maxTokens: 12, sampling: .greedy)])[0]
        let many = generator.generate(Array(repeating: GenerationRequest(prompt: prompt, maxTokens: 12, sampling: .greedy), count: 3))
        for r in many { #expect(r.tokens.map(\.id) == single.tokens.map(\.id)) }
        // The forked sequences read the prompt from the shared prefix instead of copying it.
        let base = Shared.model.makeSequence()
        _ = generator.prefill(prompt, into: base)
        let child = Shared.model.makeSequence(prefix: base)
        #expect(child.length == prompt.count)
        #expect(child.ownedPositions == 0)
        #expect(base.ownedPositions == prompt.count)
    }

    @Test("prompts added together prefill in shared passes and decode as they would alone")
    func prefillTogether() {
        let preamble = "# Shared examples.\n" + String(repeating: "defmodule A do\n  def a, do: 1\nend\n", count: 3)
        let prompts = ["def one do", "def two(x) do", "defmodule Three do"].map { Shared.tokenizer.encode(preamble + $0) }
        func run(together: Bool) -> (tokens: [[Int]], passes: Int, reused: Int) {
            let batch = DecodeBatch(context: InferenceContext(model: Shared.model, kernels: .exact), tokenizer: Shared.tokenizer)
            let groups: [DecodeBatch.PromptGroup] = prompts.enumerated().map { i, p in
                (p, [(id: i, request: GenerationRequest(prompt: p, maxTokens: 6, sampling: .greedy), processor: nil)])
            }
            var tokens = [[Int]](repeating: [], count: prompts.count)
            func collect(_ events: [DecodeBatch.Event]) { for e in events { if let t = e.token { tokens[e.slot.id].append(t.id) } } }
            if together { collect(batch.add(groups).events) } else { for g in groups { collect(batch.add([g]).events) } }
            while !batch.isEmpty { collect(batch.step()) }
            return (tokens, batch.prefillPasses, batch.reusedPromptTokens)
        }
        let alone = run(together: false), together = run(together: true)
        #expect(together.tokens == alone.tokens)
        #expect(together.tokens.allSatisfy { $0.count == 6 })
        // Alone: the first prompt in full, the others reuse the preamble. Together: the same
        // reuse (the others wait for the first to be cached), then one pass for both rests.
        #expect(alone.reused > 0 && together.reused == alone.reused)
        #expect(together.passes < alone.passes, "\(together.passes) passes together, \(alone.passes) alone")
    }

    /// The portable kernels' batches round differently from single rows; they are checked
    /// against the integer kernels in `WeightKernelTests`.
    @Test("fast kernels with VNNI and AVX-512: a request samples the same tokens, bit for bit, alone or in any batch",
          .enabled(if: InstructionSet.host >= .avx512vnni, "this CPU has no AVX-512 VNNI and AVX-512F"))
    func batchInvarianceVNNI() throws {
        try batchInvariance(.avx512vnni)
    }

    @Test("fast kernels with AVX2: a request samples the same tokens, bit for bit, alone or in any batch",
          .enabled(if: InstructionSet.host >= .avx2, "this CPU has no AVX2 with FMA and F16C"))
    func batchInvarianceAVX2() throws {
        try batchInvariance(.avx2)
    }

    func batchInvariance(_ instructionSet: InstructionSet) throws {
        let preamble = "# Shared examples.\n" + String(repeating: "defmodule A do\n  def a(x), do: x + 1\nend\n", count: 4)
        let prompts = ["def one do", "def one do", "def two(x) do", "defmodule Three do"].map { Shared.tokenizer.encode(preamble + $0) }
        let requests = prompts.enumerated().map { i, p in
            var s = SamplingParameters()
            s.temperature = 0.9; s.seed = UInt64(7 + i); s.topLogprobs = 2
            return GenerationRequest(prompt: p, maxTokens: 24, sampling: s)
        }
        func run(_ batch: DecodeBatch, _ members: [Int]) -> [Int: [GeneratedToken]] {
            var out: [Int: [GeneratedToken]] = [:]
            func collect(_ events: [DecodeBatch.Event]) { for e in events { if let t = e.token { out[e.slot.id, default: []].append(t) } } }
            // Requests with the same prompt share its cache, as a request's candidates do.
            var groups: [[Int]: [Int]] = [:]
            for i in members { groups[prompts[i], default: []].append(i) }
            collect(batch.add(groups.values.sorted { $0[0] < $1[0] }.map { ids in (prompts[ids[0]], ids.map { (id: $0, request: requests[$0], processor: nil) }) }).events)
            while !batch.isEmpty { collect(batch.step()) }
            return out
        }
        func fresh() -> DecodeBatch { DecodeBatch(context: InferenceContext(model: Shared.model, kernels: .fast, instructionSet: instructionSet), tokenizer: Shared.tokenizer) }
        let together = run(fresh(), Array(prompts.indices))
        for i in prompts.indices {
            // Alone: its own batch of one, prefilled alone, decoding with prompt-lookup drafts.
            let alone = run(fresh(), [i])[i] ?? []
            let batched = together[i] ?? []
            #expect(alone.count == 24 && batched.count == 24)
            #expect(alone.map(\.id) == batched.map(\.id), "request \(i)")
            #expect(alone.map(\.logprob.bitPattern) == batched.map(\.logprob.bitPattern), "request \(i)")
            #expect(alone.map(\.entropy.bitPattern) == batched.map(\.entropy.bitPattern), "request \(i)")
        }
        // Requests that join a running batch prefill in its pass and still sample what they
        // sample alone.
        let batch = fresh()
        var staggered: [Int: [GeneratedToken]] = [:]
        func collect(_ events: [DecodeBatch.Event]) { for e in events { if let t = e.token { staggered[e.slot.id, default: []].append(t) } } }
        collect(batch.add([(prompts[0], [(id: 0, request: requests[0], processor: nil)]), (prompts[2], [(id: 2, request: requests[2], processor: nil)])]).events)
        for _ in 0..<5 { collect(batch.step()) }
        let (passes, prefills) = (batch.decodePasses, batch.prefillPasses)
        let (before, live) = (batch.activity, batch.count)
        let joining = batch.step(adding: [(prompts[1], [(id: 1, request: requests[1], processor: nil)]), (prompts[3], [(id: 3, request: requests[3], processor: nil)])])
        collect(joining)
        #expect(batch.decodePasses == passes + 1 && batch.prefillPasses == prefills + 1, "one pass for the live slots and the new prompts")
        // The engine's figures account for that pass: every prompt position computed or found
        // cached, a row per live slot plus its drafts, a token per event that carries one.
        let joined = batch.activity - before
        #expect(joined.passes == 1)
        #expect(joined.promptRows + joined.cachedPromptRows == prompts[1].count + prompts[3].count)
        #expect(joined.promptRows >= 2 && joined.decodeRows == live + joined.draftRows)
        #expect(joined.tokens == joining.filter { $0.token != nil }.count)
        #expect(joined.forwardSeconds > 0 && joined.stepSeconds >= joined.forwardSeconds + joined.samplingSeconds)
        while !batch.isEmpty { collect(batch.step()) }
        #expect(batch.activity.tokens == staggered.values.reduce(0) { $0 + $1.count })
        for i in prompts.indices {
            #expect(staggered[i]?.map(\.id) == together[i]?.map(\.id), "request \(i) joining late")
            #expect(staggered[i]?.map(\.logprob.bitPattern) == together[i]?.map(\.logprob.bitPattern), "request \(i) joining late")
        }
    }

    @Test("speculative decoding from the prompt samples what plain decoding samples, in fewer passes")
    func promptLookupSpeculation() {
        let prompt = CopyTask.prompt, sampling = CopyTask.sampling
        func run(_ lookup: PromptLookup?) -> (tokens: [GeneratedToken], passes: Int, accepted: Int, steps: [[DecodeBatch.Event]]) {
            let batch = DecodeBatch(context: InferenceContext(model: Shared.model, kernels: .exact), tokenizer: Shared.tokenizer)
            batch.speculation = lookup
            var tokens: [GeneratedToken] = []
            for e in batch.add(prompt: prompt, requests: [(0, GenerationRequest(prompt: prompt, maxTokens: 40, sampling: sampling), nil)]).events { if let t = e.token { tokens.append(t) } }
            var steps: [[DecodeBatch.Event]] = []
            while !batch.isEmpty {
                steps.append(batch.step())
                for e in steps.last! { if let t = e.token { tokens.append(t) } }
            }
            return (tokens, batch.decodePasses, batch.acceptedDraftTokens, steps)
        }
        let plain = run(nil), drafted = run(PromptLookup())
        // A step that accepts drafts gives the slot several events; only the very last one ends it.
        #expect(drafted.steps.contains { $0.count > 1 })
        let events = drafted.steps.flatMap { $0 }
        #expect(events.dropLast().allSatisfy { $0.finish == nil } && events.last?.finish != nil)
        // The exact kernels compute each row alone, so a row's logits do not depend on the pass.
        #expect(drafted.tokens.map(\.id) == plain.tokens.map(\.id))
        #expect(drafted.tokens.map(\.logprob) == plain.tokens.map(\.logprob))
        #expect(plain.accepted == 0 && drafted.accepted > 10, "\(drafted.accepted) draft tokens accepted of \(drafted.tokens.count)")
        #expect(drafted.passes + drafted.accepted == plain.passes)
    }

    @Test("a batch drafts for several sequences, from the prompt and from each other, and samples what plain decoding samples")
    func batchedSpeculation() {
        let prompt = CopyTask.prompt
        func run(_ lookup: PromptLookup?) -> (tokens: [Int: [GeneratedToken]], passes: Int, accepted: Int) {
            let batch = DecodeBatch(context: InferenceContext(model: Shared.model, kernels: .exact), tokenizer: Shared.tokenizer)
            batch.speculation = lookup
            var tokens: [Int: [GeneratedToken]] = [:]
            // Three requests of one prompt: three rows leave five of a tile's eight for drafts.
            let requests = (0..<3).map { i -> (id: Int, request: GenerationRequest, processor: (any LogitsProcessor)?) in
                var sampling = CopyTask.sampling
                sampling.seed = 11 + UInt64(i)
                return (i, GenerationRequest(prompt: prompt, maxTokens: 30, sampling: sampling), nil)
            }
            func collect(_ events: [DecodeBatch.Event]) { for e in events { if let t = e.token { tokens[e.slot.id, default: []].append(t) } } }
            collect(batch.add(prompt: prompt, requests: requests).events)
            while !batch.isEmpty { collect(batch.step()) }
            return (tokens, batch.decodePasses, batch.acceptedDraftTokens)
        }
        let plain = run(nil), drafted = run(PromptLookup())
        for i in 0..<3 {
            #expect(drafted.tokens[i]?.map(\.id) == plain.tokens[i]?.map(\.id), "request \(i)")
            #expect(drafted.tokens[i]?.map(\.logprob) == plain.tokens[i]?.map(\.logprob), "request \(i)")
        }
        // The batch runs until its slowest sequence ends, so it need not take fewer passes.
        #expect(plain.accepted == 0 && drafted.accepted > 10, "\(drafted.accepted) draft tokens accepted")
        #expect(drafted.passes <= plain.passes)
    }

    @Test("drafts fill the last tile of a pass's rows, first positions first")
    func draftBudget() {
        let lookup = PromptLookup()
        #expect(lookup.rowBudget(sequences: 1) == 7)
        #expect(lookup.rowBudget(sequences: 5) == 3)
        #expect(lookup.rowBudget(sequences: 8) == 0)
        #expect(lookup.rowBudget(sequences: 10) == 6)
        #expect(lookup.rowBudget(sequences: 16) == 0)
        let drafts = [[1, 2, 3], [4], [], [5, 6]]
        #expect(PromptLookup.share(drafts, budget: 4) == [[1, 2], [4], [], [5]])
        #expect(PromptLookup.share(drafts, budget: 2) == [[1], [4], [], []])
        #expect(PromptLookup.share(drafts, budget: 0) == [[], [], [], []])
        #expect(PromptLookup.share(drafts, budget: 50) == drafts)
        // Higher priority first in every round.
        #expect(PromptLookup.share([[1, 2], [3, 4]], budget: 3, priority: [0, 5]) == [[1], [3, 4]])
    }

    @Test("a draft comes from the longest match, from the batch's other sequences before the prompt")
    func draftsFromOthers() {
        let lookup = PromptLookup()
        let prompt = [1, 2, 3, 4, 5, 9]
        // The prompt alone continues 1 2 3 with 4 5 9; another sequence continued it with 8 8.
        #expect(lookup.draft(prompt: prompt, generated: [1, 2, 3], limit: 10) == [4, 5, 9])
        #expect(lookup.draft(prompt: prompt, generated: [1, 2, 3], others: [[7, 7], [0, 1, 2, 3, 8, 8]], limit: 10) == [8, 8])
        #expect(lookup.draft(prompt: prompt, generated: [1, 2, 3], others: [[0, 1, 2, 3, 8, 8]], limit: 1) == [8])
        // An occurrence at the very end of another sequence has nothing after it: the prompt's counts.
        #expect(lookup.draft(prompt: prompt, generated: [1, 2, 3], others: [[0, 1, 2, 3]], limit: 10) == [4, 5, 9])
        // Where more tokens before the place match, that place wins over a later one.
        let twice = [6, 1, 2, 3, 7, 9, 5, 1, 2, 3, 8, 0]
        #expect(lookup.lookup(prompt: twice, generated: [6, 1, 2, 3], limit: 2) == ([7, 9], 4))
        #expect(lookup.lookup(prompt: twice, generated: [4, 1, 2, 3], limit: 2) == ([8, 0], 3))
        // Another sequence's text may be longer than this one's whole context.
        #expect(lookup.draft(prompt: [1], generated: [2, 3, 4], others: [[1, 2, 3, 4, 5, 1, 2, 3, 4, 6]], limit: 3) == [6])
    }

    @Test("a draft is what followed the latest earlier occurrence of the last tokens in the prompt")
    func promptLookupDrafts() {
        let lookup = PromptLookup()
        let prompt = [1, 2, 3, 4, 5, 9, 1, 2, 3, 7, 8]
        #expect(lookup.draft(prompt: prompt, generated: [1, 2, 3], limit: 10) == [7, 8])
        #expect(lookup.draft(prompt: prompt, generated: [9, 1, 2], limit: 10) == [3, 7, 8])
        #expect(lookup.draft(prompt: prompt, generated: [2, 3, 4], limit: 1) == [5])
        #expect(lookup.draft(prompt: prompt, generated: [3, 2, 1], limit: 10) == [])
        #expect(lookup.draft(prompt: prompt, generated: [1, 2, 3], limit: 0) == [])
    }

    @Test("a prompt sharing its start with an earlier one prefills only the rest, with the same output")
    func promptCache() {
        let system = "# A long shared preamble, like the system prompt and examples of every task.\n" + String(repeating: "# Elixir modules have @moduledoc and @doc.\n", count: 4)
        let a = Shared.tokenizer.encode(system + "defmodule Alpha do\n  def one do")
        let b = Shared.tokenizer.encode(system + "defmodule Beta do\n  def two do")
        let fresh = Generator(context: InferenceContext(model: Shared.model, kernels: .exact), tokenizer: Shared.tokenizer)
        let expected = fresh.generate([GenerationRequest(prompt: b, maxTokens: 8, sampling: .greedy)])[0].tokens.map(\.id)
        let cached = Generator(context: InferenceContext(model: Shared.model, kernels: .exact), tokenizer: Shared.tokenizer)
        _ = cached.generate([GenerationRequest(prompt: a, maxTokens: 2, sampling: .greedy)])
        let before = cached.batch.reusedPromptTokens
        let got = cached.generate([GenerationRequest(prompt: b, maxTokens: 8, sampling: .greedy)])[0].tokens.map(\.id)
        #expect(cached.batch.reusedPromptTokens - before > 30)
        #expect(got == expected)
    }

    @Test("a batch of different prompts gives each the tokens it gets alone")
    func batchedMatchesSingle() {
        let prompts = ["defmodule Math do\n  def add(a, b) do", "# Elixir list helpers\ndefmodule Lists do", "def sum(list) do\n  Enum."]
            .map { Shared.tokenizer.encode($0) }
        let alone = prompts.map { generator.generate([GenerationRequest(prompt: $0, maxTokens: 6, sampling: .greedy)])[0].tokens.map(\.id) }
        let together = generator.generate(prompts.map { GenerationRequest(prompt: $0, maxTokens: 6, sampling: .greedy) }).map { $0.tokens.map(\.id) }
        #expect(together == alone)
    }

    @Test("fast kernels agree with exact ones on the first tokens")
    func fastKernels() {
        let fast = Generator(context: InferenceContext(model: Shared.model, kernels: .fast), tokenizer: Shared.tokenizer)
        let a = fast.generate([GenerationRequest(prompt: prompt, maxTokens: 4, sampling: .greedy)])[0].tokens.map(\.id)
        let b = generator.generate([GenerationRequest(prompt: prompt, maxTokens: 4, sampling: .greedy)])[0].tokens.map(\.id)
        #expect(a.prefix(2) == b.prefix(2))
    }

    @Test("the same seed reproduces a sampled output; other seeds vary")
    func seeded() {
        func run(_ seed: UInt64) -> [Int] {
            var p = SamplingParameters()
            p.temperature = 1.0
            p.seed = seed
            return generator.generate([GenerationRequest(prompt: prompt, maxTokens: 16, sampling: p)])[0].tokens.map(\.id)
        }
        #expect(run(7) == run(7))
        #expect(Set((1...5).map { run($0) }).count > 1)
    }

    @Test("the monitor vets every draw by default, and only line ends when monitorEveryDraw is off")
    func monitorGranularity() {
        let prompt = Shared.tokenizer.encode("defmodule Greeter do\n  @moduledoc \"Greets.\"\n\n  def hello(name) do\n")
        let every = CountingMonitor(), lines = CountingMonitor()
        var a = GenerationRequest(prompt: prompt, maxTokens: 40, sampling: .greedy, monitor: every)
        a.monitorEveryDraw = true
        var b = GenerationRequest(prompt: prompt, maxTokens: 40, sampling: .greedy, monitor: lines)
        b.monitorEveryDraw = false
        let ra = generator.generate([a])[0], rb = generator.generate([b])[0]
        #expect(ra.tokens.map(\.id) == rb.tokens.map(\.id), "a monitor that finds everything viable must not change the output")
        let breaks = rb.tokens.filter { Shared.tokenizer.tokenBytes[$0.id].contains(10) }.count
        #expect(breaks > 0)
        #expect(every.texts.count >= ra.tokens.count)
        let endings = rb.finishReason == .endOfText ? 1 : 0
        #expect(lines.texts.count == breaks + endings, "line-level monitor asked \(lines.texts.count) times for \(breaks) line ends")
    }

    @Test("top-k 1 is greedy")
    func topKOne() {
        var p = SamplingParameters()
        p.temperature = 1.5
        p.topK = 1
        let a = generator.generate([GenerationRequest(prompt: prompt, maxTokens: 10, sampling: p)])[0]
        let g = generator.generate([GenerationRequest(prompt: prompt, maxTokens: 10, sampling: .greedy)])[0]
        #expect(a.tokens.map(\.id) == g.tokens.map(\.id))
    }

    @Test("a stop sequence ends generation before it")
    func stopSequence() {
        let g = generator.generate([GenerationRequest(prompt: prompt, maxTokens: 40, sampling: .greedy)])[0]
        let lines = g.text.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.count > 1)
        let stopped = generator.generate([GenerationRequest(prompt: prompt, maxTokens: 40, sampling: .greedy, stop: ["\n"])])[0]
        #expect(stopped.finishReason == .stop)
        #expect(!stopped.text.contains("\n"))
        #expect(g.text.hasPrefix(stopped.text))
    }

    @Test("the logits hook can forbid tokens and sees every sampled token")
    func logitsHook() {
        let greedy = generator.generate([GenerationRequest(prompt: prompt, maxTokens: 8, sampling: .greedy)])[0].tokens.map(\.id)
        let banned = Set(greedy)
        var hook: (any LogitsProcessor)? = BanTokens(banned: banned)
        let r = generator.generate([GenerationRequest(prompt: prompt, maxTokens: 8, sampling: .greedy)], processors: [hook])[0]
        #expect(r.tokens.allSatisfy { !banned.contains($0.id) })
        hook = nil
        #expect(hook == nil)
    }

    @Test("repetition and frequency penalties reduce repeated tokens")
    func penalties() {
        func repeats(_ p: SamplingParameters) -> Int {
            let ids = generator.generate([GenerationRequest(prompt: prompt, maxTokens: 48, sampling: p)])[0].tokens.map(\.id)
            return ids.count - Set(ids).count
        }
        var penalised = SamplingParameters.greedy
        penalised.repetitionPenalty = 1.5
        penalised.frequencyPenalty = 1.0
        #expect(repeats(penalised) < repeats(.greedy))
    }

    @Test("every token reports a log-probability, an entropy and its alternatives")
    func tokenReports() {
        var p = SamplingParameters.greedy
        p.topLogprobs = 3
        let r = generator.generate([GenerationRequest(prompt: prompt, maxTokens: 5, sampling: p)])[0]
        for t in r.tokens {
            #expect(t.top.count == 3)
            #expect(t.top[0].id == t.id, "greedy picks the most likely token")
            #expect(t.logprob <= 0 && t.entropy >= 0)
            #expect(t.top[0].logprob >= t.top[1].logprob)
        }
    }
}

@Suite("Sampler on synthetic logits")
struct SamplerTests {
    func draws(_ p: SamplingParameters, _ logits: [Float], n: Int = 300) -> [Int: Int] {
        var s = Sampler(p)
        var counts: [Int: Int] = [:]
        var none: (any LogitsProcessor)? = nil
        for _ in 0..<n {
            var l = logits
            let t = l.withUnsafeMutableBufferPointer { s.sample($0, processor: &none) }
            counts[t.id, default: 0] += 1
        }
        return counts
    }

    // Probabilities about 0.5, 0.3, 0.15, 0.05.
    let logits: [Float] = [log(0.5), log(0.3), log(0.15), log(0.05)]

    @Test("the C vocabulary scans draw the Swift loops' tokens with the same figures", .enabled(if: VectorKernels.supported, "this CPU has no AVX2, F16C and FMA: only the Swift path runs"), arguments: [0, 1, 3])
    func vectorScansMatchSwift(topLogprobs: Int) throws {
        var rng = SystemRandomNumberGenerator()
        for (round, minP) in [Float(0), 0.05, 0.3].enumerated() {
            var p = SamplingParameters()
            p.temperature = 0.8; p.topK = 40; p.topP = 0.95; p.minP = minP; p.seed = UInt64(round); p.topLogprobs = topLogprobs
            var vector = Sampler(p), swift = Sampler(p)
            swift.vectorScans = false
            #expect(vector.vectorScans)
            var none: (any LogitsProcessor)? = nil
            for step in 0..<20 {
                // A vocabulary's worth of logits with a tied maximum and masked tokens, as a grammar leaves them.
                var l = (0..<49_157).map { _ in Float.random(in: -12...6, using: &rng) }
                l[1_000] = 9; l[30_000] = 9
                for i in stride(from: 7, to: l.count, by: 5) { l[i] = -.infinity }
                var m = l
                let a = l.withUnsafeMutableBufferPointer { vector.sample($0, processor: &none) }
                let b = m.withUnsafeMutableBufferPointer { swift.sample($0, processor: &none) }
                #expect(a.id == b.id && a.logprob.bitPattern == b.logprob.bitPattern && a.entropy.bitPattern == b.entropy.bitPattern, "round \(round), step \(step)")
                #expect(a.top.map(\.id) == b.top.map(\.id) && a.top.map(\.logprob) == b.top.map(\.logprob))
                if topLogprobs == 1 { #expect(a.top.first?.id == 1_000, "the first of two tied maxima") }
            }
        }
    }

    @Test func minPDropsUnlikelyTokens() {
        var p = SamplingParameters()
        p.temperature = 1; p.topK = 0; p.topP = 1; p.minP = 0.5
        let c = draws(p, logits)
        #expect(Set(c.keys).isSubset(of: [0, 1]))
        #expect(c[1, default: 0] > 0)
    }

    @Test func topPKeepsTheNucleus() {
        var p = SamplingParameters()
        p.temperature = 1; p.topK = 0; p.minP = 0; p.topP = 0.8
        #expect(Set(draws(p, logits).keys) == [0, 1])
    }

    @Test func topKKeepsK() {
        var p = SamplingParameters()
        p.temperature = 1; p.topK = 3; p.minP = 0; p.topP = 1
        let c = draws(p, logits, n: 600)
        #expect(Set(c.keys) == [0, 1, 2])
    }

    @Test func temperatureFollowsTheDistribution() {
        var p = SamplingParameters()
        p.temperature = 1; p.topK = 0; p.minP = 0; p.topP = 1
        let c = draws(p, logits, n: 2000)
        #expect(abs(Double(c[0, default: 0]) / 2000 - 0.5) < 0.05)
        #expect(abs(Double(c[3, default: 0]) / 2000 - 0.05) < 0.03)
    }

    @Test func statisticsAreExact() {
        let stats = logits.withUnsafeBufferPointer { Sampler.statistics($0, top: 2) }
        let expected = -[0.5, 0.3, 0.15, 0.05].map { $0 * log($0) }.reduce(0, +)
        #expect(abs(Double(stats.entropy) - expected) < 1e-4)
        #expect(stats.top.map(\.id) == [0, 1])
        #expect(abs(stats.top[0].logprob - log(0.5)) < 1e-5)
    }

    @Test("log-sum-exp and entropy of a vocabulary with masked tokens match a Double reference")
    func statisticsOverAVocabulary() {
        var rng = SeededGenerator(seed: 7)
        // 49,153 entries: not a whole number of vector lanes; every third token masked.
        let logits = (0..<49_153).map { i -> Float in i % 3 == 1 ? -.infinity : Float.random(in: -30...12, using: &rng) }
        let stats = logits.withUnsafeBufferPointer { Sampler.statistics($0, top: 3) }
        let finite = logits.filter(\.isFinite).map(Double.init)
        let m = finite.max()!
        let z = finite.reduce(0) { $0 + exp($1 - m) }
        let entropy = -finite.reduce(0) { $0 + exp($1 - m) / z * ($1 - m - log(z)) }
        #expect(abs(Double(stats.logSumExp) - (m + log(z))) < 1e-4)
        #expect(abs(Double(stats.entropy) - entropy) < 1e-4 * entropy)
        #expect(stats.top.map(\.id) == Array(logits.indices.sorted { logits[$0] > logits[$1] }.prefix(3)))
    }
}

@Suite("Streaming text")
struct TextAccumulatorTests {
    @Test func holdsBackAPossibleStopAndCutsAtIt() {
        var t = TextAccumulator(stop: ["END"])
        var out = t.append(Array("abc E".utf8))
        #expect(out == "abc ")
        out = t.append(Array("N".utf8))
        #expect(out == "")
        out = t.append(Array("Dmore".utf8))
        #expect(out == "")
        #expect(t.stoppedAt != nil)
        #expect(t.text == "abc ")
    }

    @Test func releasesAHeldPrefixThatDidNotMatch() {
        var t = TextAccumulator(stop: ["END"])
        #expect(t.append(Array("xE".utf8)) == "x")
        #expect(t.append(Array("x".utf8)) == "Ex")
    }

    @Test func neverSplitsAUTF8Character() {
        var t = TextAccumulator(stop: [])
        let bytes = Array("é日".utf8)
        var out = ""
        for b in bytes { out += t.append([b]) }
        out += t.flush()
        #expect(out == "é日")
        var u = TextAccumulator(stop: [])
        #expect(u.append([bytes[0]]) == "")
        #expect(u.append([bytes[1]]) == "é")
    }
}
