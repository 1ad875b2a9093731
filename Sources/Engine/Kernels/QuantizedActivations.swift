import CKernels

/// Activations quantized to 8 bits in blocks of 32 (ggml's Q8_1): the integer
/// side of every weight-times-activation dot product, each block in `BlockOrder`.
final class QuantizedActivations {
    let capacityRows: Int
    let cols: Int
    let blocks: Int
    let q: UnsafeMutablePointer<Int8>
    /// Block scale.
    let d: UnsafeMutablePointer<Float>
    /// Block scale times the sum of the block's quants, for Q4_1's offset term.
    let s: UnsafeMutablePointer<Float>
    /// The sum of the block's quants, exactly: the VNNI kernel takes Q8_0's offset back out with it.
    let sums: UnsafeMutablePointer<Int32>
    /// The quantized values as floats (q * d), in the same order: the batched float kernels
    /// read these, so both paths see the same rounded activations that llama.cpp's kernels see.
    let dequantized: UnsafeMutablePointer<Float>

    init(rows: Int, cols: Int) {
        capacityRows = rows
        self.cols = cols
        blocks = cols / 32
        q = .allocate(capacity: rows * cols)
        d = .allocate(capacity: rows * blocks)
        s = .allocate(capacity: rows * blocks)
        sums = .allocate(capacity: rows * blocks)
        dequantized = .allocate(capacity: rows * cols)
    }

    deinit {
        q.deallocate()
        d.deallocate()
        s.deallocate()
        sums.deallocate()
        dequantized.deallocate()
    }

    /// Quantizes `rows` rows of `x` (row stride `cols`).
    func quantize(_ x: UnsafePointer<Float>, rows: Int) {
        quantize(x, blocks: 0..<(rows * blocks))
    }

    /// Quantizes some of the blocks of `x`, numbered row by row (block `i` is row `i / blocks`);
    /// disjoint ranges can be quantized at once from several threads.
    /// - Parameter vectorKernel: use the C kernel (the same bits; tests compare both paths).
    func quantize(_ x: UnsafePointer<Float>, blocks range: Range<Int>, vectorKernel: Bool = VectorKernels.supported) {
        // Every step quantizes each row four times per layer: the vector kernel does the same
        // arithmetic per element without Swift's lane-by-lane rounding and conversion.
        if vectorKernel {
            let i = range.lowerBound
            ec_quantize_blocks(x + i * 32, Int32(range.count), q + i * 32, d + i, s + i, sums + i, dequantized + i * 32)
            return
        }
        // Rows are `blocks` whole blocks long, so block `i` starts at element `32 * i`.
        for i in range {
            let src = x + i * 32
            var amax: Float = 0
            for j in 0..<32 { amax = max(amax, abs(src[j])) }
            let scale = amax / 127
            // 127/amax and ties-to-even are what ggml's x86 quantizer computes.
            let inv: Float = amax > 0 ? 127 / amax : 0
            let dst = q + i * 32
            var sum: Int32 = 0
            for j in 0..<32 {
                let v = Int8((src[BlockOrder.element(j)] * inv).rounded(.toNearestOrEven))
                dst[j] = v
                sum &+= Int32(v)
            }
            // llama.cpp stores these block scales as fp16; rounding the same way keeps logits comparable.
            let scale16 = Float(Float16(scale))
            let deq = dequantized + i * 32
            for j in 0..<32 { deq[j] = Float(dst[j]) * scale16 }
            d[i] = scale16
            sums[i] = sum
            s[i] = Float(Float16(scale * Float(sum)))
        }
    }
}

/// Whether the CPU runs the C vector kernels (AVX2, FMA, F16C).
public enum VectorKernels {
    public static let supported = ec_vector_kernels_supported() != 0
}
