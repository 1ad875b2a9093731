import Foundation

/// A text's embedding from the model's own hidden states: the mean over its tokens of the last
/// layer's output after the final RMSNorm (what the output head reads).
///
/// Owns an inference context of its own on the shared weights, so embedding never touches a
/// serving loop's KV cache; one embedding runs at a time (a lock, since the context is not
/// reentrant).
public final class TextEmbedder: @unchecked Sendable {
    public let model: LlamaModel
    private let context: InferenceContext
    private let lock = NSLock()
    /// Rows per forward pass: bounds the scratch buffers for long texts.
    private let chunk = 64

    public init(model: LlamaModel, threads: Int = ProcessInfo.processInfo.activeProcessorCount, kernels: KernelMode = .fast) {
        self.model = model
        context = InferenceContext(model: model, threads: threads, kernels: kernels)
    }

    /// The embedding width (the model's hidden size).
    public var dimension: Int { model.config.embeddingLength }

    /// Mean-pooled final hidden state of `tokens`.
    /// - Returns: `dimension` floats; zeros for no tokens.
    /// - Complexity: one prefill of `tokens.count` positions.
    public func embed(_ tokens: [Int]) -> [Float] {
        Self.mean(hiddenStates(tokens), dimension: dimension)
    }

    /// The final hidden state (after the final RMSNorm) at every position of `tokens`, for callers
    /// that pool a span of them or read the last.
    /// - Complexity: one prefill of `tokens.count` positions.
    public func hiddenStates(_ tokens: [Int]) -> [[Float]] {
        let e = dimension
        guard !tokens.isEmpty else { return [] }
        lock.lock()
        defer { lock.unlock() }
        let sequence = model.makeSequence()
        var out: [[Float]] = []
        out.reserveCapacity(tokens.count)
        for lo in stride(from: 0, to: tokens.count, by: chunk) {
            let rows = (lo..<min(tokens.count, lo + chunk)).map { BatchRow(sequence: sequence, token: tokens[$0], position: $0, wantsLogits: false) }
            _ = context.forward(rows)
            let h = context.hiddenStates
            for i in rows.indices {
                out.append([Float](unsafeUninitializedCapacity: e) { buffer, count in
                    rmsNorm(h + i * e, model.outputNorm, buffer.baseAddress!, e, eps: model.config.rmsEpsilon)
                    count = e
                })
            }
        }
        return out
    }

    /// The final hidden states of `prefix` (as `hiddenStates`) and, for each continuation, the
    /// log-probability the model gives it right after `prefix` (the sum over its tokens): a
    /// zero-shot reading of which continuation the model expects, with the prefix prefilled once.
    /// - Complexity: one prefill of `prefix.count` positions, then one of `count - 1` positions per continuation.
    public func hiddenStates(_ prefix: [Int], continuations: [[Int]]) -> (states: [[Float]], logProbabilities: [Double]) {
        let e = dimension, vocabulary = model.config.vocabularySize
        guard !prefix.isEmpty else { return ([], continuations.map { _ in 0 }) }
        lock.lock()
        defer { lock.unlock() }
        let sequence = model.makeSequence()
        var states: [[Float]] = []
        states.reserveCapacity(prefix.count)
        var next: [Double] = []
        for lo in stride(from: 0, to: prefix.count, by: chunk) {
            let hi = min(prefix.count, lo + chunk)
            let rows = (lo..<hi).map { BatchRow(sequence: sequence, token: prefix[$0], position: $0, wantsLogits: $0 == prefix.count - 1) }
            let logits = context.forward(rows)
            let h = context.hiddenStates
            for i in rows.indices {
                states.append([Float](unsafeUninitializedCapacity: e) { buffer, count in
                    rmsNorm(h + i * e, model.outputNorm, buffer.baseAddress!, e, eps: model.config.rmsEpsilon)
                    count = e
                })
            }
            if hi == prefix.count { next = Self.logSoftmax(logits.baseAddress!, vocabulary) }
        }
        var scores: [Double] = []
        for tokens in continuations {
            guard let first = tokens.first else { scores.append(0); continue }
            var total = next[first]
            if tokens.count > 1 {
                // Each continuation token but the last predicts the next; the cache is rolled back after.
                let rows = tokens.dropLast().enumerated().map { BatchRow(sequence: sequence, token: $0.element, position: prefix.count + $0.offset, wantsLogits: true) }
                let logits = context.forward(rows)
                for i in 1..<tokens.count { total += Self.logSoftmax(logits.baseAddress! + (i - 1) * vocabulary, vocabulary)[tokens[i]] }
                sequence.truncate(to: prefix.count)
            }
            scores.append(total)
        }
        return (states, scores)
    }

    static func logSoftmax(_ logits: UnsafePointer<Float>, _ n: Int) -> [Double] {
        var m = -Double.infinity
        for i in 0..<n { m = max(m, Double(logits[i])) }
        var s = 0.0
        for i in 0..<n { s += exp(Double(logits[i]) - m) }
        let z = m + log(s)
        return (0..<n).map { Double(logits[$0]) - z }
    }

    /// The mean of `states` (zeros when there are none).
    public static func mean(_ states: some Collection<[Float]>, dimension: Int) -> [Float] {
        var sum = [Double](repeating: 0, count: dimension)
        for s in states { for j in 0..<dimension { sum[j] += Double(s[j]) } }
        let n = Double(max(1, states.count))
        return sum.map { Float($0 / n) }
    }
}
