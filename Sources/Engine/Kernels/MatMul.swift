/// out[b * W.rows + r] = W[r] · x[b] for the `batch` activation rows.
///
/// Each weight block is read once and applied to every activation row while it
/// is in L1, which is what makes batched decode cheaper per token than single.
func matmul(_ w: WeightMatrix, _ xq: QuantizedActivations, _ xf: UnsafePointer<Float>, batch: Int,
            into out: UnsafeMutablePointer<Float>, rowRange: Range<Int>) {
    let nb = w.blocksPerRow
    let cols = w.cols
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
