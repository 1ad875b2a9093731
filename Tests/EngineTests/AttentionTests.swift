import Foundation
import Testing
import TestSupport
@testable import Engine

@Suite("Tiled attention", .serialized)
struct AttentionTests {
    @Test("score and value tiles compute the plain dot products and weighted sums")
    func tiles() {
        let dim = 64, count = 37, width = 48, stride = 64
        var rng = SystemRandomNumberGenerator()
        func random(_ n: Int) -> [Float] { (0..<n).map { _ in Float.random(in: -1...1, using: &rng) } }
        let queries = random(6 * dim), keys = (0..<(count * dim)).map { _ in Float16(Float.random(in: -1...1, using: &rng)) }
        var kt = [Float](repeating: .nan, count: dim * width), scores = [Float](repeating: 0, count: 6 * stride)
        keys.withUnsafeBufferPointer { k in
            kt.withUnsafeMutableBufferPointer { transposeKeys({ k.baseAddress! + $0 * dim }, count: count, dim: dim, width: width, into: $0.baseAddress!) }
        }
        queries.withUnsafeBufferPointer { q in
            kt.withUnsafeBufferPointer { t in
                scores.withUnsafeMutableBufferPointer { s in
                    for p0 in Swift.stride(from: 0, to: width, by: 16) {
                        scoreTile(q.baseAddress!, q.baseAddress! + 3 * dim, dim: dim, keys: t.baseAddress!, at: p0, scale: 0.5,
                                  into: s.baseAddress!, s.baseAddress! + 3 * stride, stride: stride)
                    }
                }
            }
        }
        for j in 0..<6 {
            for p in 0..<width {
                let expected = p < count ? (0..<dim).reduce(Float(0)) { $0 + queries[j * dim + $1] * Float(keys[p * dim + $1]) } * 0.5 : 0
                #expect(abs(scores[j * stride + p] - expected) < 1e-4, "query \(j), key \(p)")
            }
        }
        let weights = random(3 * stride), values = random(count * dim)
        var acc = [Float](repeating: 1, count: 3 * dim)
        weights.withUnsafeBufferPointer { w in
            values.withUnsafeBufferPointer { v in
                acc.withUnsafeMutableBufferPointer { valueTile(weights: w.baseAddress!, stride: stride, values: v.baseAddress!, count: count, dim: dim, into: $0.baseAddress!) }
            }
        }
        for j in 0..<3 {
            for d in 0..<dim {
                let expected = 1 + (0..<count).reduce(Float(0)) { $0 + weights[j * stride + $1] * values[$1 * dim + d] }
                #expect(abs(acc[j * dim + d] - expected) < 1e-4, "head \(j), dim \(d)")
            }
        }
    }

    @Test("softmax in vector lanes matches a Double reference, padding untouched by the sum", arguments: [1, 16, 37, 450])
    func softmaxMatches(count: Int) {
        var rng = SystemRandomNumberGenerator()
        let scores = (0..<count).map { _ in Float.random(in: -40...25, using: &rng) }
        let buffer = UnsafeMutablePointer<Float>.allocate(capacity: count + 16)
        defer { buffer.deallocate() }
        buffer.initialize(from: scores, count: count)
        softmax(buffer, count: count)
        let m = Double(scores.max()!)
        let z = scores.reduce(0.0) { $0 + exp(Double($1) - m) }
        // Within float rounding of the gap to the maximum (a few ulps of up to 65).
        for (p, s) in scores.enumerated() {
            let expected = exp(Double(s) - m) / z
            #expect(abs(Double(buffer[p]) - expected) <= 1e-5 * max(expected, 1e-30) + 1e-37, "position \(p) of \(count)")
        }
    }

    @Test("softmax's C kernel for the shift by the maximum gives the Swift path's bits", .enabled(if: VectorKernels.supported, "this CPU has no AVX2, F16C and FMA: only the Swift path runs"), arguments: [1, 15, 16, 37, 450])
    func softmaxKernelMatchesSwift(count: Int) throws {
        var rng = SystemRandomNumberGenerator()
        // Scores far below the maximum exercise the -87 floor.
        let scores = (0..<count).map { _ in Float.random(in: -140...25, using: &rng) }
        let padded = (count + 15) / 16 * 16
        let a = UnsafeMutablePointer<Float>.allocate(capacity: padded), b = UnsafeMutablePointer<Float>.allocate(capacity: padded)
        defer { a.deallocate(); b.deallocate() }
        a.initialize(from: scores, count: count)
        b.initialize(from: scores, count: count)
        softmax(a, count: count, vectorKernel: true)
        softmax(b, count: count, vectorKernel: false)
        for p in 0..<count { #expect(a[p].bitPattern == b[p].bitPattern, "position \(p) of \(count)") }
    }

    /// Each 256-bit lane runs the chain of the 512-bit lane of the same key or dimension.
    @Test("AVX2 attention kernels write the 512-bit kernels' bits, tiled and key by key",
          .enabled(if: InstructionSet.host >= .avx512vnni, "this CPU has no AVX-512 to compare with (the AVX2 kernels are checked against the Swift tiles in the test below)"))
    func avx2AttentionMatches512() {
        let prompt = Shared.tokenizer.encode("# Shared.\n" + String(repeating: "defmodule Example do\n  def run(x), do: x * 2\nend\n", count: 5))
        let wide = InferenceContext(model: Shared.model, kernels: .fast, instructionSet: .avx512vnni)
        let avx2 = InferenceContext(model: Shared.model, kernels: .fast, instructionSet: .avx2)
        let base = Shared.model.makeSequence()
        _ = wide.forward(prompt.indices.map { BatchRow(sequence: base, token: prompt[$0], position: $0, wantsLogits: false) })
        var rows: [BatchRow] = []
        for f in 0..<4 {
            let seq = Shared.model.makeSequence(prefix: base)
            _ = wide.forward([BatchRow(sequence: seq, token: 100 + f, position: prompt.count, wantsLogits: false)])
            rows.append(BatchRow(sequence: seq, token: 100 + f, position: prompt.count, wantsLogits: true))
        }
        // Rows whose own positions start mid-block, as a prefill chunk's do.
        rows += (37..<58).map { BatchRow(sequence: base, token: prompt[$0], position: $0, wantsLogits: false) }
        var rng = SystemRandomNumberGenerator()
        let queries = (0..<(rows.count * Shared.model.config.embeddingLength)).map { _ in Float.random(in: -2...2, using: &rng) }
        for layer in [0, 13, 29] {
            for tiled in [false, true] {
                let a = wide.fastAttention(layer: layer, rows: rows, queries: queries, tiled: tiled)
                let b = avx2.fastAttention(layer: layer, rows: rows, queries: queries, tiled: tiled)
                #expect(a.map(\.bitPattern) == b.map(\.bitPattern), "layer \(layer), tiled \(tiled)")
            }
        }
    }

    @Test("a whole model decodes the same tokens, bit for bit, with AVX2 kernels as with AVX-512 VNNI",
          .enabled(if: InstructionSet.host >= .avx512vnni, "this CPU has no AVX-512 VNNI to compare with"))
    func avx2DecodesLikeVNNI() {
        let prompt = Shared.tokenizer.encode("defmodule Math do\n  def add(a, b) do")
        func run(_ set: InstructionSet) -> [GeneratedToken] {
            let generator = Generator(context: InferenceContext(model: Shared.model, kernels: .fast, instructionSet: set), tokenizer: Shared.tokenizer)
            var sampling = SamplingParameters()
            sampling.temperature = 0.8
            sampling.seed = 11
            return generator.generate([GenerationRequest(prompt: prompt, maxTokens: 24, sampling: sampling)])[0].tokens
        }
        let vnni = run(.avx512vnni), avx2 = run(.avx2)
        #expect(vnni.count == 24)
        #expect(vnni.map(\.id) == avx2.map(\.id))
        #expect(vnni.map(\.logprob.bitPattern) == avx2.map(\.logprob.bitPattern))
    }

    @Test("rows sharing cached positions get the same attention with tiles as key by key", arguments: [1, 3, 10])
    func tiledMatchesKeyByKey(forks: Int) {
        let text = "# Shared instructions for every task.\n" + String(repeating: "defmodule Example do\n  def run(x), do: x * 2\nend\n", count: 6)
        let prompt = Shared.tokenizer.encode(text)
        #expect(prompt.count > 100)
        let context = InferenceContext(model: Shared.model, kernels: .fast)
        let base = Shared.model.makeSequence()
        _ = context.forward(prompt.indices.map { BatchRow(sequence: base, token: prompt[$0], position: $0, wantsLogits: false) })
        // Forks that each add a position (a batch decoding after a shared prompt), and rows
        // re-reading the prompt's own positions (as a prefill chunk does).
        var rows: [BatchRow] = []
        for f in 0..<forks {
            let seq = Shared.model.makeSequence(prefix: base)
            _ = context.forward([BatchRow(sequence: seq, token: 100 + f, position: prompt.count, wantsLogits: false)])
            rows.append(BatchRow(sequence: seq, token: 100 + f, position: prompt.count, wantsLogits: true))
        }
        rows += (40..<60).map { BatchRow(sequence: base, token: prompt[$0], position: $0, wantsLogits: false) }
        var rng = SystemRandomNumberGenerator()
        let e = Shared.model.config.embeddingLength
        let queries = (0..<(rows.count * e)).map { _ in Float.random(in: -2...2, using: &rng) }
        for layer in [0, 17, 29] {
            let tiled = context.fastAttention(layer: layer, rows: rows, queries: queries, tiled: true)
            let plain = context.fastAttention(layer: layer, rows: rows, queries: queries, tiled: false)
            let largest = zip(tiled, plain).map { abs($0 - $1) }.max()!
            let range = plain.map(abs).max()!
            // The same products summed in another order.
            #expect(range > 0.01)
            #expect(largest <= range * 1e-5, "layer \(layer): largest difference \(largest) of \(range)")
        }
        #expect(base.mirror == nil)
        // The mirror is the Swift tiles' (the C tiles widen the cache's fp16 entries in registers).
        let wideTiles = context.wideTiles
        context.wideTiles = false
        for layer in [0, 17, 29] {
            let converted = context.fastAttention(layer: layer, rows: rows, queries: queries, tiled: true)
            let mirrored = context.fastAttention(layer: layer, rows: rows, queries: queries, tiled: true, mirrored: true)
            // The mirror holds the same fp32 values the tiles convert: bit for bit the same.
            #expect(mirrored == converted, "layer \(layer)")
        }
        #expect(base.mirror?.count == prompt.count)
        context.wideTiles = wideTiles
        if context.wideTiles {
            // The C tiles, reading fp16, sum in the Swift tiles' order: the same bits as the
            // Swift tiles converting the keys or reading the mirror.
            for layer in [0, 17, 29] {
                for mirrored in [false, true] {
                    let wide = context.fastAttention(layer: layer, rows: rows, queries: queries, tiled: true, mirrored: mirrored)
                    context.wideTiles = false
                    let swift = context.fastAttention(layer: layer, rows: rows, queries: queries, tiled: true, mirrored: mirrored)
                    context.wideTiles = true
                    #expect(wide == swift, "layer \(layer), mirrored \(mirrored)")
                }
            }
        }
        if context.wideKeyByKey {
            // Positions past the shared range in the C kernels: the same products, summed in another order.
            // Tiled, a row's own positions start inside a key block; untiled, at its start.
            for layer in [0, 17, 29] {
                for tiled in [false, true] {
                    let wide = context.fastAttention(layer: layer, rows: rows, queries: queries, tiled: tiled)
                    context.wideKeyByKey = false
                    let swift = context.fastAttention(layer: layer, rows: rows, queries: queries, tiled: tiled)
                    context.wideKeyByKey = true
                    let largest = zip(wide, swift).map { abs($0 - $1) }.max()!
                    #expect(largest <= swift.map(abs).max()! * 1e-5, "layer \(layer), tiled \(tiled): largest difference \(largest)")
                }
            }
        }
        base.truncate(to: 50)
        #expect(base.mirror == nil, "a rollback below the mirrored positions drops the mirror")
    }
}
