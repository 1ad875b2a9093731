/// out[b * W.rows + r] = W[r] · x[b] for the `batch` activation rows.
///
/// Each weight block is read once and applied to every activation row while it
/// is in L1, which is what makes batched decode cheaper per token than single.
///
/// `panels` is the integer panel kernel of the instruction set in use (nil: the Swift kernels;
/// tests pick each one to check them on the same machine).
func matmul(_ w: WeightMatrix, _ xq: QuantizedActivations, _ xf: UnsafePointer<Float>, batch: Int,
            into out: UnsafeMutablePointer<Float>, rowRange: Range<Int>, kernels: KernelMode,
            panels kernel: IntegerPanels.Kernel? = InstructionSet.host.panelKernel) {
    let nb = w.blocksPerRow
    let cols = w.cols
    if kernels == .fast && w.layout != .f32 {
        let n = Panels.rows
        // Integer panels win from one row on (a single sequence decodes about twice as fast as
        // with the integer dot products below, VNNI or AVX2); the float tiles only from four.
        // One kernel for every batch size also makes a row's result independent of its batch.
        if (kernel != nil || batch >= panelMinimumBatch) && rowRange.lowerBound % n == 0 {
            // Whole panels here, the rows past the last one (if any) below.
            let whole = rowRange.upperBound == w.rows ? (w.rows + n - 1) / n : rowRange.upperBound / n
            let panels = (rowRange.lowerBound / n)..<max(rowRange.lowerBound / n, whole)
            if let kernel {
                w.integerPanels().multiply(xq, batch: batch, rows: w.rows, into: out, panels: panels, kernel: kernel)
            } else {
                matmulPanels(w, xq.dequantized, batch: batch, into: out, panels: panels)
            }
            let done = min(rowRange.upperBound, panels.upperBound * n)
            if done < rowRange.upperBound { matmulDequantized(w, xq.dequantized, batch: batch, into: out, rowRange: done..<rowRange.upperBound) }
            return
        }
        if batch >= floatPathMinimumBatch {
            matmulDequantized(w, xq.dequantized, batch: batch, into: out, rowRange: rowRange)
            return
        }
    }
    switch w.layout {
    case .q4_1:
        let qs = w.q.assumingMemoryBound(to: UInt8.self)
        for r in rowRange {
            let rowQ = qs + r * nb * 16
            let rowD = w.d + r * nb, rowM = w.m + r * nb
            for b in 0..<batch {
                let x = xq.q + b * cols, xd = xq.d + b * nb, xs = xq.s + b * nb
                var acc = SIMD8<Float>(), offsets: Float = 0
                for k in 0..<nb {
                    offsets = offsets.addingProduct(rowM[k], xs[k])
                    acc.addProduct(SIMD8(repeating: rowD[k] * xd[k]), laneDotsQ4(rowQ + k * 16, x + k * 32))
                }
                out[b * w.rows + r] = horizontalSum(acc) + offsets
            }
        }
    case .q8_0:
        let qs = w.q.assumingMemoryBound(to: Int8.self)
        for r in rowRange {
            let rowQ = qs + r * nb * 32
            let rowD = w.d + r * nb
            for b in 0..<batch {
                let x = xq.q + b * cols, xd = xq.d + b * nb
                var acc = SIMD8<Float>()
                for k in 0..<nb {
                    acc.addProduct(SIMD8(repeating: rowD[k] * xd[k]), laneDotsQ8(rowQ + k * 32, x + k * 32))
                }
                out[b * w.rows + r] = horizontalSum(acc)
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

/// From this many activation rows on, sixteen-row panels and outer-product tiles beat
/// the four-row dot-product tile (which wastes less on two or three rows).
let panelMinimumBatch = 4

/// Which kernels a context runs.
///
/// Both compute the same products of the same 8-bit activations; they differ in
/// float rounding only. That is enough to change this model's output: its
/// activations are requantized every layer, so a 1-ulp difference can flip a
/// rounding and grow through 30 layers (0.1-0.4 nats on the golden prompts).
public enum KernelMode: Sendable {
    /// Integer block dot products everywhere and llama.cpp's order of every float
    /// operation (its x86 build): its logits are reproduced bit for bit.
    case exact
    /// Float tiles over dequantized rows for batches and a two-pass fp32 attention:
    /// about twice the prompt and batched-decode throughput.
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
        for t in 0..<tile { w.expandRow(r + t, into: buf + t * cols) }
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

/// Batched path for many rows: each panel of sixteen weight rows is expanded to floats once,
/// then 16 x 6 (or 16 x 4) outer-product tiles run over the activation rows: per input
/// position two weight vectors and one broadcast per activation row feed 12 FMAs, and the
/// twelve independent accumulators keep both FMA pipes busy.
func matmulPanels(_ w: WeightMatrix, _ xf: UnsafePointer<Float>, batch: Int, into out: UnsafeMutablePointer<Float>, panels: Range<Int>) {
    let n = Panels.rows, cols = w.cols
    let source = w.panels()
    let panel = UnsafeMutablePointer<Float>.allocate(capacity: n * cols)
    let tile = UnsafeMutablePointer<Float>.allocate(capacity: 6 * n)
    defer { panel.deallocate(); tile.deallocate() }
    for p in panels {
        source.expand(p, into: panel)
        let valid = min(n, w.rows - p * n)
        var b = 0
        while b < batch {
            // Sixes and fours: 8 runs as 4 + 4 and 10 as 6 + 4, so few columns are padding.
            let left = batch - b
            let width = left == 5 || left == 6 || left >= 10 ? min(6, left) : min(4, left)
            if width > 4 {
                tile16x6(panel, cols, xf + b * cols, rows: width, into: tile)
            } else {
                tile16x4(panel, cols, xf + b * cols, rows: width, into: tile)
            }
            for j in 0..<width { (out + (b + j) * w.rows + p * n).update(from: tile + j * n, count: valid) }
            b += width
        }
    }
}

/// A panel (`panel[k * 16 + t]`) times up to six activation rows (`cols` apart); rows past
/// `rows` repeat the last one. Writes `out[j * 16 + t]`.
@inline(__always)
func tile16x6(_ panel: UnsafePointer<Float>, _ cols: Int, _ x: UnsafePointer<Float>, rows: Int, into out: UnsafeMutablePointer<Float>) {
    typealias V = SIMD8<Float>
    let x0 = x, x1 = x + min(1, rows - 1) * cols, x2 = x + min(2, rows - 1) * cols
    let x3 = x + min(3, rows - 1) * cols, x4 = x + min(4, rows - 1) * cols, x5 = x + min(5, rows - 1) * cols
    var c00 = V(), c01 = V(), c10 = V(), c11 = V(), c20 = V(), c21 = V()
    var c30 = V(), c31 = V(), c40 = V(), c41 = V(), c50 = V(), c51 = V()
    let raw = UnsafeRawPointer(panel)
    for k in 0..<cols {
        let w0 = raw.loadUnaligned(fromByteOffset: k * 64, as: V.self)
        let w1 = raw.loadUnaligned(fromByteOffset: k * 64 + 32, as: V.self)
        var v = V(repeating: x0[k]); c00.addProduct(w0, v); c01.addProduct(w1, v)
        v = V(repeating: x1[k]); c10.addProduct(w0, v); c11.addProduct(w1, v)
        v = V(repeating: x2[k]); c20.addProduct(w0, v); c21.addProduct(w1, v)
        v = V(repeating: x3[k]); c30.addProduct(w0, v); c31.addProduct(w1, v)
        v = V(repeating: x4[k]); c40.addProduct(w0, v); c41.addProduct(w1, v)
        v = V(repeating: x5[k]); c50.addProduct(w0, v); c51.addProduct(w1, v)
    }
    storePair(c00, c01, out); storePair(c10, c11, out + 16); storePair(c20, c21, out + 32)
    storePair(c30, c31, out + 48); storePair(c40, c41, out + 64); storePair(c50, c51, out + 80)
}

/// As `tile16x6` for up to four activation rows.
@inline(__always)
func tile16x4(_ panel: UnsafePointer<Float>, _ cols: Int, _ x: UnsafePointer<Float>, rows: Int, into out: UnsafeMutablePointer<Float>) {
    typealias V = SIMD8<Float>
    let x0 = x, x1 = x + min(1, rows - 1) * cols, x2 = x + min(2, rows - 1) * cols, x3 = x + min(3, rows - 1) * cols
    var c00 = V(), c01 = V(), c10 = V(), c11 = V(), c20 = V(), c21 = V(), c30 = V(), c31 = V()
    let raw = UnsafeRawPointer(panel)
    for k in 0..<cols {
        let w0 = raw.loadUnaligned(fromByteOffset: k * 64, as: V.self)
        let w1 = raw.loadUnaligned(fromByteOffset: k * 64 + 32, as: V.self)
        var v = V(repeating: x0[k]); c00.addProduct(w0, v); c01.addProduct(w1, v)
        v = V(repeating: x1[k]); c10.addProduct(w0, v); c11.addProduct(w1, v)
        v = V(repeating: x2[k]); c20.addProduct(w0, v); c21.addProduct(w1, v)
        v = V(repeating: x3[k]); c30.addProduct(w0, v); c31.addProduct(w1, v)
    }
    storePair(c00, c01, out); storePair(c10, c11, out + 16); storePair(c20, c21, out + 32); storePair(c30, c31, out + 48)
}

@inline(__always)
private func storePair(_ lo: SIMD8<Float>, _ hi: SIMD8<Float>, _ dst: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(dst).storeBytes(of: lo, as: SIMD8<Float>.self)
    UnsafeMutableRawPointer(dst + 8).storeBytes(of: hi, as: SIMD8<Float>.self)
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

/// One block's integer products summed in llama.cpp's eight lanes (see `BlockOrder`): with
/// both sides in that order, lane j < 4 is Σ_t w[4t+j] x[4t+j] over the low nibbles and
/// lane 4 + j the same over the high nibbles and the second half of `x`.
@inline(__always)
func laneDotsQ4(_ w: UnsafePointer<UInt8>, _ x: UnsafePointer<Int8>) -> SIMD8<Float> {
    laneSums { s, t, j in
        let v = w[4 * t + j]
        s[j] &+= Int32(v & 0xF) &* Int32(x[4 * t + j])
        s[4 + j] &+= Int32(v >> 4) &* Int32(x[16 + 4 * t + j])
    }
}

/// As `laneDotsQ4` for two blocks of signed bytes.
@inline(__always)
func laneDotsQ8(_ w: UnsafePointer<Int8>, _ x: UnsafePointer<Int8>) -> SIMD8<Float> {
    laneSums { s, t, j in
        s[j] &+= Int32(w[4 * t + j]) &* Int32(x[4 * t + j])
        s[4 + j] &+= Int32(w[16 + 4 * t + j]) &* Int32(x[16 + 4 * t + j])
    }
}

/// Eight integer lane sums, accumulated by `add(lanes, t, j)` for t, j in 0..<4, as floats.
@inline(__always)
func laneSums(_ add: (UnsafeMutablePointer<Int32>, Int, Int) -> Void) -> SIMD8<Float> {
    var lanes = SIMD8<Int32>()
    var result = SIMD8<Float>()
    withUnsafeMutableBytes(of: &lanes) { raw in
        let s = raw.baseAddress!.assumingMemoryBound(to: Int32.self)
        for t in 0..<4 {
            for j in 0..<4 { add(s, t, j) }
        }
        // Element by element: a SIMD type conversion is a slow generic loop.
        for j in 0..<8 { result[j] = Float(s[j]) }
    }
    return result
}

/// The eight lanes folded in halves (128-bit halves, then pairs), as llama.cpp's x86 reductions add them.
@inline(__always)
func horizontalSum(_ v: SIMD8<Float>) -> Float {
    let h = v.lowHalf + v.highHalf
    return (h[0] + h[2]) + (h[1] + h[3])
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

/// Dot product of floats with fp16 values (keys in the cache), summed in the order of
/// llama.cpp's 512-bit f16 dot product: four 16-lane accumulators, folded in halves.
@inline(__always)
func dotHalf(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float16>, _ n: Int) -> Float {
    typealias V = SIMD16<Float>
    func load(_ i: Int) -> (V, V) {
        (UnsafeRawPointer(a + i).loadUnaligned(as: V.self), V(UnsafeRawPointer(b + i).loadUnaligned(as: SIMD16<Float16>.self)))
    }
    var s0 = V(), s1 = V(), s2 = V(), s3 = V()
    var i = 0
    while i + 64 <= n {
        let (a0, b0) = load(i), (a1, b1) = load(i + 16), (a2, b2) = load(i + 32), (a3, b3) = load(i + 48)
        s0.addProduct(a0, b0); s1.addProduct(a1, b1); s2.addProduct(a2, b2); s3.addProduct(a3, b3)
        i += 64
    }
    let v = (s0 + s2) + (s1 + s3)
    let eight = v.lowHalf + v.highHalf
    let four = eight.lowHalf + eight.highHalf
    var sum = Double((four[0] + four[2]) + (four[1] + four[3]))
    while i < n {
        sum += Double(a[i] * Float(b[i]))
        i += 1
    }
    return Float(sum)
}
