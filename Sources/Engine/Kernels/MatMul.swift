/// out[b * W.rows + r] = W[r] · x[b] for the `batch` activation rows.
///
/// Each weight block is read once and applied to every activation row while it
/// is in L1, which is what makes batched decode cheaper per token than single.
func matmul(_ w: WeightMatrix, _ xq: QuantizedActivations, _ xf: UnsafePointer<Float>, batch: Int,
            into out: UnsafeMutablePointer<Float>, rowRange: Range<Int>, kernels: KernelMode) {
    let nb = w.blocksPerRow
    let cols = w.cols
    if kernels == .fast && batch >= floatPathMinimumBatch && w.layout != .f32 {
        matmulDequantized(w, xq.dequantized, batch: batch, into: out, rowRange: rowRange)
        return
    }
    switch w.layout {
    case .q4_1:
        let qs = w.q.assumingMemoryBound(to: UInt8.self)
        for r in rowRange {
            let rowQ = qs + r * nb * 16
            let rowD = w.d + r * nb, rowM = w.m + r * nb
            var b = 0
            // Four activation rows at a time keep four accumulators live per weight block.
            while b + 4 <= batch {
                var s0: Float = 0, s1: Float = 0, s2: Float = 0, s3: Float = 0
                let x0 = xq.q + b * cols, x1 = x0 + cols, x2 = x1 + cols, x3 = x2 + cols
                let d0 = xq.d + b * nb, d1 = d0 + nb, d2 = d1 + nb, d3 = d2 + nb
                let c0 = xq.s + b * nb, c1 = c0 + nb, c2 = c1 + nb, c3 = c2 + nb
                for k in 0..<nb {
                    let wq = rowQ + k * 16
                    let wd = rowD[k], wm = rowM[k]
                    s0 += wd * d0[k] * Float(dotQ4(wq, x0 + k * 32)) + wm * c0[k]
                    s1 += wd * d1[k] * Float(dotQ4(wq, x1 + k * 32)) + wm * c1[k]
                    s2 += wd * d2[k] * Float(dotQ4(wq, x2 + k * 32)) + wm * c2[k]
                    s3 += wd * d3[k] * Float(dotQ4(wq, x3 + k * 32)) + wm * c3[k]
                }
                out[b * w.rows + r] = s0
                out[(b + 1) * w.rows + r] = s1
                out[(b + 2) * w.rows + r] = s2
                out[(b + 3) * w.rows + r] = s3
                b += 4
            }
            while b < batch {
                var s: Float = 0
                let x = xq.q + b * cols, xd = xq.d + b * nb, xs = xq.s + b * nb
                for k in 0..<nb {
                    s += rowD[k] * xd[k] * Float(dotQ4(rowQ + k * 16, x + k * 32)) + rowM[k] * xs[k]
                }
                out[b * w.rows + r] = s
                b += 1
            }
        }
    case .q8_0:
        let qs = w.q.assumingMemoryBound(to: Int8.self)
        for r in rowRange {
            let rowQ = qs + r * nb * 32
            let rowD = w.d + r * nb
            for b in 0..<batch {
                var s: Float = 0
                let x = xq.q + b * cols, xd = xq.d + b * nb
                for k in 0..<nb {
                    s += rowD[k] * xd[k] * Float(dotQ8(rowQ + k * 32, x + k * 32))
                }
                out[b * w.rows + r] = s
            }
        }
    case .f32:
        for r in rowRange {
            let row = w.f + r * cols
            for b in 0..<batch {
                out[b * w.rows + r] = dotF32(row, xf + b * cols, cols)
            }
        }
    }
}

/// From this many activation rows on, dequantizing a weight row once and running
/// float FMAs against every row beats one integer dot product per block and row.
let floatPathMinimumBatch = 2

/// Which kernels a context runs.
///
/// Both compute the same products of the same 8-bit activations; they differ in
/// float rounding only. That is enough to change this model's output: its
/// activations are requantized every layer, so a 1-ulp difference can flip a
/// rounding and grow through 30 layers (0.1-0.3 nats on the golden prompts).
public enum KernelMode: Sendable {
    /// Integer block dot products everywhere, the arithmetic llama.cpp uses:
    /// its greedy outputs are reproduced token for token.
    case exact
    /// Float tiles over dequantized rows for batches: about twice the prompt
    /// and batched-decode throughput; single-sequence decode is unchanged.
    case fast
}

/// Batched path: weight rows are expanded to floats four at a time, then a
/// 4-row by 2-column register tile runs FMAs, so every load feeds two or four products.
func matmulDequantized(_ w: WeightMatrix, _ xf: UnsafePointer<Float>, batch: Int, into out: UnsafeMutablePointer<Float>, rowRange: Range<Int>) {
    let cols = w.cols
    let buf = UnsafeMutablePointer<Float>.allocate(capacity: 4 * cols)
    defer { buf.deallocate() }
    var r = rowRange.lowerBound
    while r < rowRange.upperBound {
        let tile = min(4, rowRange.upperBound - r)
        for t in 0..<tile { w.dequantizeRow(r + t, into: buf + t * cols) }
        if tile == 4 {
            var b = 0
            while b + 2 <= batch {
                let s = tile4x2(buf, cols, xf + b * cols, xf + (b + 1) * cols)
                for t in 0..<4 {
                    out[b * w.rows + r + t] = s[t]
                    out[(b + 1) * w.rows + r + t] = s[4 + t]
                }
                b += 2
            }
            if b < batch {
                for t in 0..<4 { out[b * w.rows + r + t] = dotF32(buf + t * cols, xf + b * cols, cols) }
            }
        } else {
            for t in 0..<tile {
                for b in 0..<batch { out[b * w.rows + r + t] = dotF32(buf + t * cols, xf + b * cols, cols) }
            }
        }
        r += tile
    }
}

/// Dot products of four consecutive rows (stride `n`) with two vectors; `n` is a multiple of 8.
@inline(__always)
func tile4x2(_ w: UnsafePointer<Float>, _ n: Int, _ x0: UnsafePointer<Float>, _ x1: UnsafePointer<Float>) -> SIMD8<Float> {
    typealias V = SIMD8<Float>
    var a00 = V(), a10 = V(), a20 = V(), a30 = V(), a01 = V(), a11 = V(), a21 = V(), a31 = V()
    let rw = UnsafeRawPointer(w), r0 = UnsafeRawPointer(x0), r1 = UnsafeRawPointer(x1)
    let stride = n * 4
    var o = 0
    while o < stride {
        let v0 = r0.loadUnaligned(fromByteOffset: o, as: V.self)
        let v1 = r1.loadUnaligned(fromByteOffset: o, as: V.self)
        let w0 = rw.loadUnaligned(fromByteOffset: o, as: V.self)
        let w1 = rw.loadUnaligned(fromByteOffset: o + stride, as: V.self)
        let w2 = rw.loadUnaligned(fromByteOffset: o + 2 * stride, as: V.self)
        let w3 = rw.loadUnaligned(fromByteOffset: o + 3 * stride, as: V.self)
        a00.addProduct(w0, v0); a10.addProduct(w1, v0); a20.addProduct(w2, v0); a30.addProduct(w3, v0)
        a01.addProduct(w0, v1); a11.addProduct(w1, v1); a21.addProduct(w2, v1); a31.addProduct(w3, v1)
        o += 32
    }
    return V(a00.sum(), a10.sum(), a20.sum(), a30.sum(), a01.sum(), a11.sum(), a21.sum(), a31.sum())
}

/// Σ q4[j] * x[j] over one block: low nibbles pair with x[0..<16], high with x[16..<32].
@inline(__always)
func dotQ4(_ w: UnsafePointer<UInt8>, _ x: UnsafePointer<Int8>) -> Int32 {
    var acc: Int32 = 0
    for j in 0..<16 {
        let v = w[j]
        acc &+= Int32(v & 0xF) &* Int32(x[j]) &+ Int32(v >> 4) &* Int32(x[j + 16])
    }
    return acc
}

@inline(__always)
func dotQ8(_ w: UnsafePointer<Int8>, _ x: UnsafePointer<Int8>) -> Int32 {
    var acc: Int32 = 0
    for j in 0..<32 { acc &+= Int32(w[j]) &* Int32(x[j]) }
    return acc
}

@inline(__always)
func dotF32(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
    var acc0 = SIMD16<Float>(), acc1 = SIMD16<Float>()
    var i = 0
    while i + 32 <= n {
        acc0.addProduct(UnsafeRawPointer(a + i).loadUnaligned(as: SIMD16<Float>.self), UnsafeRawPointer(b + i).loadUnaligned(as: SIMD16<Float>.self))
        acc1.addProduct(UnsafeRawPointer(a + i + 16).loadUnaligned(as: SIMD16<Float>.self), UnsafeRawPointer(b + i + 16).loadUnaligned(as: SIMD16<Float>.self))
        i += 32
    }
    var s = (acc0 + acc1).sum()
    while i < n {
        s += a[i] * b[i]
        i += 1
    }
    return s
}

/// Dot product of floats with fp16 values (keys in the cache).
@inline(__always)
func dotHalf(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float16>, _ n: Int) -> Float {
    var s0: Float = 0, s1: Float = 0, s2: Float = 0, s3: Float = 0
    var i = 0
    while i + 4 <= n {
        s0 += a[i] * Float(b[i])
        s1 += a[i + 1] * Float(b[i + 1])
        s2 += a[i + 2] * Float(b[i + 2])
        s3 += a[i + 3] * Float(b[i + 3])
        i += 4
    }
    while i < n {
        s0 += a[i] * Float(b[i])
        i += 1
    }
    return (s0 + s1) + (s2 + s3)
}
