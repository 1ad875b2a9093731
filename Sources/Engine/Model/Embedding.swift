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

    /// The mean of `states` (zeros when there are none).
    public static func mean(_ states: some Collection<[Float]>, dimension: Int) -> [Float] {
        var sum = [Double](repeating: 0, count: dimension)
        for s in states { for j in 0..<dimension { sum[j] += Double(s[j]) } }
        let n = Double(max(1, states.count))
        return sum.map { Float($0 / n) }
    }
}
