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
        let e = dimension
        var sum = [Double](repeating: 0, count: e)
        guard !tokens.isEmpty else { return sum.map(Float.init) }
        lock.lock()
        defer { lock.unlock() }
        let sequence = model.makeSequence()
        let normed = UnsafeMutablePointer<Float>.allocate(capacity: e)
        defer { normed.deallocate() }
        for lo in stride(from: 0, to: tokens.count, by: chunk) {
            let rows = (lo..<min(tokens.count, lo + chunk)).map { BatchRow(sequence: sequence, token: tokens[$0], position: $0, wantsLogits: false) }
            _ = context.forward(rows)
            let h = context.hiddenStates
            for i in rows.indices {
                rmsNorm(h + i * e, model.outputNorm, normed, e, eps: model.config.rmsEpsilon)
                for j in 0..<e { sum[j] += Double(normed[j]) }
            }
        }
        let n = Double(tokens.count)
        return sum.map { Float($0 / n) }
    }
}
