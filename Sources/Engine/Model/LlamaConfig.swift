import GGUF

/// Hyperparameters of a Llama-family model, read from GGUF metadata.
public struct LlamaConfig: Sendable, Equatable {
    public var layerCount: Int
    public var embeddingLength: Int
    public var feedForwardLength: Int
    public var headCount: Int
    public var kvHeadCount: Int
    public var headDimension: Int
    public var vocabularySize: Int
    public var contextLength: Int
    public var ropeFrequencyBase: Float
    public var rmsEpsilon: Float

    public var kvDimension: Int { kvHeadCount * headDimension }

    public init(gguf: GGUFFile) throws {
        let arch = try gguf.string("general.architecture")
        // These share llama's tensor layout and hyperparameter keys.
        guard ["llama", "mistral"].contains(arch) else {
            throw GGUFError(.unsupportedArchitecture, path: gguf.path, "architecture '\(arch)' is not supported (only llama-family models)")
        }
        layerCount = try gguf.int("\(arch).block_count")
        embeddingLength = try gguf.int("\(arch).embedding_length")
        feedForwardLength = try gguf.int("\(arch).feed_forward_length")
        headCount = try gguf.int("\(arch).attention.head_count")
        kvHeadCount = gguf.metadata["\(arch).attention.head_count_kv"]?.intValue ?? headCount
        headDimension = gguf.metadata["\(arch).rope.dimension_count"]?.intValue ?? (embeddingLength / max(headCount, 1))
        vocabularySize = gguf.metadata["\(arch).vocab_size"]?.intValue ?? (gguf.metadata["tokenizer.ggml.tokens"]?.arrayValue?.count ?? 0)
        contextLength = gguf.metadata["\(arch).context_length"]?.intValue ?? 2048
        ropeFrequencyBase = Float(gguf.metadata["\(arch).rope.freq_base"]?.floatValue ?? 10000)
        rmsEpsilon = Float(gguf.metadata["\(arch).attention.layer_norm_rms_epsilon"]?.floatValue ?? 1e-5)
        guard layerCount > 0, headCount > 0, kvHeadCount > 0, headCount % kvHeadCount == 0,
              headDimension * headCount == embeddingLength, headDimension % 2 == 0, vocabularySize > 0
        else {
            throw GGUFError(.corrupt, path: gguf.path, "inconsistent hyperparameters: \(layerCount) layers, \(headCount) heads, \(kvHeadCount) KV heads, head dimension \(headDimension), embedding \(embeddingLength)")
        }
    }
}
