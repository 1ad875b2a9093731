import Foundation
import GGUF

/// One layer's weights.
struct LlamaLayer {
    let attnNorm: UnsafeMutablePointer<Float>
    let ffnNorm: UnsafeMutablePointer<Float>
    let wq, wk, wv, wo: WeightMatrix
    let gate, up, down: WeightMatrix
}

/// A Llama-family model loaded from GGUF: weights repacked for the CPU kernels.
///
/// Immutable after load, so one instance serves any number of inference contexts.
public final class LlamaModel: @unchecked Sendable {
    public let config: LlamaConfig
    public let path: String
    let layers: [LlamaLayer]
    let tokenEmbedding: WeightMatrix
    let outputNorm: UnsafeMutablePointer<Float>
    let output: WeightMatrix
    /// Ratio between successive RoPE pair frequencies.
    let thetaScale: Float
    private var ownedVectors: [UnsafeMutablePointer<Float>] = []

    public init(file: GGUFFile) throws {
        let config = try LlamaConfig(gguf: file)
        self.config = config
        path = file.path
        var owned: [UnsafeMutablePointer<Float>] = []
        // Every weight the model reads is checked once here: a NaN would otherwise give finite
        // garbage through the quantized matrix kernels, not an error.
        func finite(_ t: GGUFTensorInfo) throws {
            if let block = file.firstNonFinite(t) {
                throw GGUFError(.corrupt, path: file.path, "tensor \(t.name) holds a NaN or infinite value (block \(block)); the file is damaged")
            }
        }
        func vector(_ name: String, _ n: Int) throws -> UnsafeMutablePointer<Float> {
            let t = try file.tensor(name)
            try finite(t)
            guard t.elementCount == n, t.type == .f32 || t.type == .f16 else {
                throw GGUFError(.corrupt, path: file.path, "tensor \(name) should hold \(n) F32 values, has \(t.elementCount) of \(t.type.name)")
            }
            let p = UnsafeMutablePointer<Float>.allocate(capacity: n)
            let src = file.pointer(to: t)
            for i in 0..<n {
                p[i] = t.type == .f32 ? src.loadUnaligned(fromByteOffset: 4 * i, as: Float.self)
                    : Float(Float16(bitPattern: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))
            }
            owned.append(p)
            return p
        }
        func matrix(_ name: String, cols: Int, rows: Int) throws -> WeightMatrix {
            let t = try file.tensor(name)
            guard t.shape.count == 2, t.shape[0] == cols, t.shape[1] == rows else {
                throw GGUFError(.corrupt, path: file.path, "tensor \(name) has shape \(t.shape), expected [\(cols), \(rows)]")
            }
            try finite(t)
            return try WeightMatrix(t, in: file)
        }
        let e = config.embeddingLength, kv = config.kvDimension, ff = config.feedForwardLength
        var layers: [LlamaLayer] = []
        for l in 0..<config.layerCount {
            let p = "blk.\(l)."
            layers.append(LlamaLayer(
                attnNorm: try vector(p + "attn_norm.weight", e),
                ffnNorm: try vector(p + "ffn_norm.weight", e),
                wq: try matrix(p + "attn_q.weight", cols: e, rows: e),
                wk: try matrix(p + "attn_k.weight", cols: e, rows: kv),
                wv: try matrix(p + "attn_v.weight", cols: e, rows: kv),
                wo: try matrix(p + "attn_output.weight", cols: e, rows: e),
                gate: try matrix(p + "ffn_gate.weight", cols: e, rows: ff),
                up: try matrix(p + "ffn_up.weight", cols: e, rows: ff),
                down: try matrix(p + "ffn_down.weight", cols: ff, rows: e)))
        }
        self.layers = layers
        tokenEmbedding = try matrix("token_embd.weight", cols: e, rows: config.vocabularySize)
        outputNorm = try vector("output_norm.weight", e)
        // Tied embeddings: without output.weight the embedding matrix is the head.
        output = file.tensors["output.weight"] != nil
            ? try matrix("output.weight", cols: e, rows: config.vocabularySize) : tokenEmbedding
        thetaScale = powf(config.ropeFrequencyBase, -2 / Float(config.headDimension))
        ownedVectors = owned
    }

    /// Loads the GGUF file at `path`.
    public convenience init(path: String) throws {
        try self.init(file: try GGUFFile(path: path))
    }

    deinit {
        ownedVectors.forEach { $0.deallocate() }
    }

    /// An empty cache for a new sequence, optionally continuing the first `prefixLength`
    /// positions of a frozen prefix (all of them by default).
    public func makeSequence(prefix: KVSequence? = nil, prefixLength: Int? = nil) -> KVSequence {
        KVSequence(layers: config.layerCount, kvDim: config.kvDimension, prefix: prefix, prefixLength: prefixLength)
    }
}
