import TestSupport
import Foundation
import Testing
import Engine
import Tokenizer

/// Position-by-position reference from llama.cpp for the first golden prompt.
struct GoldenPosition: Decodable {
    let chosen_id: Int
    let top5: [[Double]]
}

struct GoldenFirstTop: Decodable {
    let id: Int
    let logprob: Double
}

struct GoldenFull: Decodable {
    struct Entry: Decodable {
        let prompt: String
        let token_ids: [Int]
        let greedy_continuation_ids: [Int]
        let first_position_top5_logprobs: [GoldenFirstTop]
        let per_position_top5_logprobs: [GoldenPosition]?
    }
    let entries: [Entry]
    static let loaded: GoldenFull = try! JSONDecoder().decode(GoldenFull.self, from: Data(contentsOf: TestPaths.fixtures.appendingPathComponent("llama-cpp/golden.json")))
}

@Suite("Engine against llama.cpp", .serialized)
struct GoldenGenerationTests {
    @Test("greedy continuation of the Math prompt matches llama.cpp's 32 ids and top-5 log-probabilities")
    func mathContinuation() throws {
        let entry = GoldenFull.loaded.entries[0]
        let per = try #require(entry.per_position_top5_logprobs)
        let generator = Generator(context: InferenceContext(model: Shared.model, kernels: .exact), tokenizer: Shared.tokenizer)
        var params = SamplingParameters.greedy
        params.topLogprobs = 10
        let result = generator.generate([GenerationRequest(prompt: entry.token_ids, maxTokens: 32, sampling: params)])[0]
        #expect(result.tokens.map(\.id) == entry.greedy_continuation_ids)
        // This model's logits move by up to ~0.3 nats with any change of rounding (fp16
        // cache, 8-bit activations; its residual stream has outliers near 700), so bit-level
        // agreement is out of reach: we hold the typical difference to 0.05 and bound the worst.
        var diffs: [Double] = []
        for (i, token) in result.tokens.enumerated() where i < per.count {
            for ref in per[i].top5 {
                let mine = token.top.first { $0.id == Int(ref[0]) }
                let got = try #require(mine, "position \(i): token \(Int(ref[0])) missing from our top-5")
                diffs.append(abs(Double(got.logprob) - ref[1]))
            }
        }
        diffs.sort()
        #expect(diffs.count == 32 * 5)
        #expect(diffs[diffs.count / 2] < 0.06, "median log-probability difference \(diffs[diffs.count / 2])")
        #expect(diffs[diffs.count - 1] < 0.5, "largest log-probability difference \(diffs[diffs.count - 1])")
    }

    @Test("first-position top-5 log-probabilities agree on every golden prompt, with either kernel set",
          arguments: 0..<4, [KernelMode.exact, .fast])
    func firstPosition(index: Int, kernels: KernelMode) throws {
        let entry = GoldenFull.loaded.entries[index]
        let context = InferenceContext(model: Shared.model, kernels: kernels)
        let seq = Shared.model.makeSequence()
        let logits = Generator(context: context, tokenizer: Shared.tokenizer).prefill(entry.token_ids, into: seq)
        let stats = logits.withUnsafeBufferPointer { Sampler.statistics($0, top: 5) }
        // Same best token; every reference top-5 token within our top 8, close in value.
        #expect(stats.top[0].id == entry.first_position_top5_logprobs[0].id)
        let wide = logits.withUnsafeBufferPointer { Sampler.statistics($0, top: 8) }
        for ref in entry.first_position_top5_logprobs {
            let mine = try #require(wide.top.first { $0.id == ref.id })
            #expect(abs(Double(mine.logprob) - ref.logprob) < (kernels == .exact ? 0.2 : 0.45))
        }
    }
}
