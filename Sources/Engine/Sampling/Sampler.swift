import CKernels
import Foundation

/// xoshiro256** seeded through SplitMix64: small, fast and reproducible across runs.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var s: (UInt64, UInt64, UInt64, UInt64)

    public init(seed: UInt64) {
        var x = seed
        func splitmix() -> UInt64 {
            x &+= 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        s = (splitmix(), splitmix(), splitmix(), splitmix())
    }

    public mutating func next() -> UInt64 {
        let result = ((s.1 &* 5) << 7 | (s.1 &* 5) >> 57) &* 9
        let t = s.1 << 17
        s.2 ^= s.0
        s.3 ^= s.1
        s.1 ^= s.2
        s.0 ^= s.3
        s.2 ^= t
        s.3 = s.3 << 45 | s.3 >> 19
        return result
    }
}

/// Picks tokens for one sequence: penalties, truncation, temperature, seeded draw.
public struct Sampler: Sendable {
    public var parameters: SamplingParameters
    private var rng: SeededGenerator
    /// Tokens this sequence produced, for the penalties.
    public private(set) var history: [Int] = []
    /// Whether the whole-vocabulary scans run in C vector lanes (the same answers; tests
    /// compare both paths).
    var vectorScans = VectorKernels.supported

    public init(_ parameters: SamplingParameters) {
        self.parameters = parameters
        rng = SeededGenerator(seed: parameters.seed)
    }

    /// Forgets tokens after the first `count` (a rollback), so penalties see only what was kept.
    public mutating func truncateHistory(to count: Int) {
        if count < history.count { history.removeLast(history.count - count) }
    }

    /// Confidence figures of the raw distribution: log-sum-exp, entropy and the top alternatives.
    /// - Parameter vector: scan in C vector lanes (the same answers; tests compare both paths).
    public static func statistics(_ logits: UnsafeBufferPointer<Float>, top k: Int, vector: Bool = VectorKernels.supported)
        -> (logSumExp: Float, entropy: Float, top: [TokenLogprob]) {
        // exp(l - max) over the vocabulary, for every token of every sequence: in vector lanes.
        // Gaps are clamped at -87, where exp is below 2e-38 (nothing next to the max's 1): no
        // infinities (a monitor's -inf gives weight 0 * -87, not NaN) and no subnormal scaling.
        let n = logits.count, padded = (n + 15) / 16 * 16
        let gaps = UnsafeMutablePointer<Float>.allocate(capacity: padded)
        defer { gaps.deallocate() }
        let l = logits.baseAddress!
        var maxL = -Float.infinity
        if vector {
            gaps.update(from: l, count: n)
            maxL = ec_shift_by_max(gaps, Int32(n), Int32(padded), -87)
        } else {
            for v in logits where v > maxL { maxL = v }
            for i in 0..<padded { gaps[i] = i < n ? Swift.max(l[i] - maxL, -87) : -87 }
        }
        var sums = SIMD16<Float>(), weights = SIMD16<Float>()
        for i in Swift.stride(from: 0, to: padded, by: 16) {
            let d = UnsafeRawPointer(gaps + i).loadUnaligned(as: SIMD16<Float>.self)
            let e = approximateExp(d)
            sums += e
            weights.addProduct(e, d)
        }
        let sum = sums.sum(), weighted = weights.sum()
        let lse = maxL + logf(sum)
        // H = log Z - E[l - max], with Z the sum of exp(l - max).
        let entropy = logf(sum) - weighted / sum
        var top: [TokenLogprob] = []
        if k == 1, vector {
            var largest: Float = 0
            let i = Int(ec_argmax(l, Int32(n), &largest))
            top = [TokenLogprob(id: i, logprob: lse.isFinite && largest.isFinite ? largest - lse : -100)]
        } else if k > 0 {
            var best: [(Float, Int)] = []
            best.reserveCapacity(k + 1)
            for (i, v) in logits.enumerated() where best.count < k || v > best[best.count - 1].0 {
                let at = best.firstIndex { $0.0 < v } ?? best.count
                best.insert((v, i), at: at)
                if best.count > k { best.removeLast() }
            }
            top = best.map { TokenLogprob(id: $0.1, logprob: lse.isFinite && $0.0.isFinite ? $0.0 - lse : -100) }
        }
        return (lse, entropy, top)
    }

    /// Chooses the next token. `logits` is modified (processor, penalties, temperature).
    public mutating func sample(_ logits: UnsafeMutableBufferPointer<Float>, processor: inout (any LogitsProcessor)?) -> GeneratedToken {
        let stats = Self.statistics(UnsafeBufferPointer(logits), top: parameters.topLogprobs, vector: vectorScans)
        // The reported log-probability is the model's own, so keep the raw logits.
        let raw = Array(logits)
        processor?.process(logits: logits)
        applyPenalties(logits)
        let id = choose(logits)
        processor?.didSample(token: id)
        history.append(id)
        // Every token ruled out (a mask and a monitor together can do that): report a floor, not NaN.
        let logprob = raw[id] - stats.logSumExp
        return GeneratedToken(id: id, logprob: logprob.isFinite ? logprob : -100, entropy: stats.entropy.isFinite ? stats.entropy : 0, top: stats.top)
    }

    private func applyPenalties(_ logits: UnsafeMutableBufferPointer<Float>) {
        let p = parameters
        guard p.repetitionPenalty != 1 || p.frequencyPenalty != 0 || p.presencePenalty != 0, !history.isEmpty else { return }
        var counts: [Int: Int] = [:]
        for t in history.suffix(p.penaltyWindow) { counts[t, default: 0] += 1 }
        for (t, c) in counts where t < logits.count {
            var v = logits[t]
            if p.repetitionPenalty != 1 { v = v > 0 ? v / p.repetitionPenalty : v * p.repetitionPenalty }
            v -= Float(c) * p.frequencyPenalty + p.presencePenalty
            logits[t] = v
        }
    }

    private mutating func choose(_ logits: UnsafeMutableBufferPointer<Float>) -> Int {
        let p = parameters
        var bestID = 0
        var best = -Float.infinity
        let vector = vectorScans
        if vector {
            bestID = Int(ec_argmax(logits.baseAddress!, Int32(logits.count), &best))
        } else {
            for (i, v) in logits.enumerated() where v > best {
                best = v
                bestID = i
            }
        }
        guard p.temperature > 0, best > -Float.infinity else { return bestID }
        // Min-p is a floor relative to the best logit, so applying it first is exact and
        // leaves a handful of candidates to sort; without it, exp(-30) is nothing.
        var cands: [(Float, Int)] = []
        let floor = best + (p.minP > 0 ? max(logf(p.minP), -30) : -30)
        let found = !vector ? nil : withUnsafeTemporaryAllocation(of: Int32.self, capacity: 1024) { at -> [(Float, Int)]? in
            let count = Int(ec_at_least(logits.baseAddress!, Int32(logits.count), floor, at.baseAddress!, 1024))
            return count > 1024 ? nil : (0..<count).map { (logits[Int(at[$0])], Int(at[$0])) }
        }
        if let found {
            cands = found
        } else {
            for (i, v) in logits.enumerated() where v >= floor { cands.append((v, i)) }
        }
        cands.sort { $0.0 > $1.0 }
        if p.topK > 0 && cands.count > p.topK { cands.removeLast(cands.count - p.topK) }
        // Probabilities at temperature 1 for top-p and min-p, as llama.cpp's chain does.
        var probs = cands.map { expf($0.0 - best) }
        var total = probs.reduce(0, +)
        if p.topP < 1 {
            var acc: Float = 0
            var keep = probs.count
            for (j, q) in probs.enumerated() {
                acc += q / total
                if acc >= p.topP { keep = j + 1; break }
            }
            cands.removeLast(cands.count - keep)
            probs.removeLast(probs.count - keep)
        }
        if p.minP > 0 {
            let keep = max(1, probs.prefix { $0 >= p.minP }.count)
            cands.removeLast(cands.count - keep)
            probs.removeLast(probs.count - keep)
        }
        probs = cands.map { expf(($0.0 - best) / p.temperature) }
        total = probs.reduce(0, +)
        var r = Float(Double(rng.next() >> 11) / Double(1 << 53)) * total
        for (j, q) in probs.enumerated() {
            r -= q
            if r <= 0 { return cands[j].1 }
        }
        return cands[cands.count - 1].1
    }
}
