import CKernels

/// Register tiles for attention over a cache range that several query heads read together
/// (the shared prompt prefix of a batch, or the earlier positions of a prompt being
/// prefilled): keys and values are converted from fp16 once for all of them, and the
/// products run as small matrix multiplies instead of one dot product per key.

/// Copies `count` cached fp16 keys of one head into floats, in blocks of 16 keys, each
/// dimension-major (`out[(p / 16) * 16 * dim + d * 16 + p % 16]`), zero-padded to `width`
/// keys (a multiple of 16): a tile then reads its keys front to back.
@inline(__always)
func transposeKeys(_ keys: (Int) -> UnsafePointer<Float16>, count: Int, dim: Int, width: Int, into out: UnsafeMutablePointer<Float>) {
    for p in 0..<count {
        let k = keys(p), block = out + (p / 16) * 16 * dim + p % 16
        for d in 0..<dim { block[d * 16] = Float(k[d]) }
    }
    for p in count..<width {
        let block = out + (p / 16) * 16 * dim + p % 16
        for d in 0..<dim { block[d * 16] = 0 }
    }
}

/// Copies `count` cached fp16 values of one head into floats, key-major (`out[p * dim + d]`).
@inline(__always)
func convertValues(_ values: (Int) -> UnsafePointer<Float16>, count: Int, dim: Int, into out: UnsafeMutablePointer<Float>) {
    for p in 0..<count {
        let v = values(p)
        for d in 0..<dim { out[p * dim + d] = Float(v[d]) }
    }
}

/// Scores of six query vectors (three heads of row a, three of row b; `dim` apart) against
/// keys `p0..<p0 + 16`, a block of `transposeKeys`, times `scale`.
/// Row j's scores land at `sa + j * stride + p0` (j < 3) or `sb + (j - 3) * stride + p0`.
@inline(__always)
func scoreTile(_ qa: UnsafePointer<Float>, _ qb: UnsafePointer<Float>, dim: Int, keys kt: UnsafePointer<Float>, at p0: Int,
               scale: Float, into sa: UnsafeMutablePointer<Float>, _ sb: UnsafeMutablePointer<Float>, stride: Int) {
    typealias V = SIMD8<Float>
    var c00 = V(), c01 = V(), c10 = V(), c11 = V(), c20 = V(), c21 = V()
    var c30 = V(), c31 = V(), c40 = V(), c41 = V(), c50 = V(), c51 = V()
    let raw = UnsafeRawPointer(kt + p0 * dim)
    for d in 0..<dim {
        let k0 = raw.loadUnaligned(fromByteOffset: d * 64, as: V.self)
        let k1 = raw.loadUnaligned(fromByteOffset: d * 64 + 32, as: V.self)
        var v = V(repeating: qa[d]); c00.addProduct(v, k0); c01.addProduct(v, k1)
        v = V(repeating: qa[dim + d]); c10.addProduct(v, k0); c11.addProduct(v, k1)
        v = V(repeating: qa[2 * dim + d]); c20.addProduct(v, k0); c21.addProduct(v, k1)
        v = V(repeating: qb[d]); c30.addProduct(v, k0); c31.addProduct(v, k1)
        v = V(repeating: qb[dim + d]); c40.addProduct(v, k0); c41.addProduct(v, k1)
        v = V(repeating: qb[2 * dim + d]); c50.addProduct(v, k0); c51.addProduct(v, k1)
    }
    let s = V(repeating: scale)
    func store(_ lo: V, _ hi: V, _ dst: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(dst).storeBytes(of: lo * s, as: V.self)
        UnsafeMutableRawPointer(dst + 8).storeBytes(of: hi * s, as: V.self)
    }
    store(c00, c01, sa + p0); store(c10, c11, sa + stride + p0); store(c20, c21, sa + 2 * stride + p0)
    store(c30, c31, sb + p0); store(c40, c41, sb + stride + p0); store(c50, c51, sb + 2 * stride + p0)
}

/// Adds three query heads' weighted sums of values to their accumulators:
/// `acc[j * dim + d] += Σ_p w[j * stride + p] * values[p * dim + d]` for p in 0..<count;
/// `dim` is a multiple of 16. Sixteen dimensions at a time keep the six sums, two value
/// vectors and a weight in registers; wider strips spill.
@inline(__always)
func valueTile(weights w: UnsafePointer<Float>, stride: Int, values vf: UnsafePointer<Float>, count: Int, dim: Int,
               into acc: UnsafeMutablePointer<Float>) {
    typealias V = SIMD8<Float>
    let raw = UnsafeRawPointer(vf)
    let w1 = w + stride, w2 = w + 2 * stride
    for strip in Swift.stride(from: 0, to: dim, by: 16) {
        var a00 = V(), a01 = V(), a10 = V(), a11 = V(), a20 = V(), a21 = V()
        var base = strip * 4
        for p in 0..<count {
            let v0 = raw.loadUnaligned(fromByteOffset: base, as: V.self)
            let v1 = raw.loadUnaligned(fromByteOffset: base + 32, as: V.self)
            var b = V(repeating: w[p]); a00.addProduct(b, v0); a01.addProduct(b, v1)
            b = V(repeating: w1[p]); a10.addProduct(b, v0); a11.addProduct(b, v1)
            b = V(repeating: w2[p]); a20.addProduct(b, v0); a21.addProduct(b, v1)
            base += dim * 4
        }
        // Stored inline: a helper taking SIMD8 arguments splits them into 4-wide halves,
        // and the whole loop with them.
        let out = UnsafeMutableRawPointer(acc + strip), row = dim * 4
        out.storeBytes(of: out.loadUnaligned(as: V.self) + a00, as: V.self)
        out.storeBytes(of: out.loadUnaligned(fromByteOffset: 32, as: V.self) + a01, toByteOffset: 32, as: V.self)
        out.storeBytes(of: out.loadUnaligned(fromByteOffset: row, as: V.self) + a10, toByteOffset: row, as: V.self)
        out.storeBytes(of: out.loadUnaligned(fromByteOffset: row + 32, as: V.self) + a11, toByteOffset: row + 32, as: V.self)
        out.storeBytes(of: out.loadUnaligned(fromByteOffset: 2 * row, as: V.self) + a20, toByteOffset: 2 * row, as: V.self)
        out.storeBytes(of: out.loadUnaligned(fromByteOffset: 2 * row + 32, as: V.self) + a21, toByteOffset: 2 * row + 32, as: V.self)
    }
}

/// Softmax of `count` scores in place, the exponentials in vector lanes (a batch step takes
/// tens of thousands per layer). The buffer must have room for `count` rounded up to 16:
/// the padding gets weights of about 1e-38 that nothing reads. `vectorKernel` picks the C
/// kernel for the shift by the maximum (the same bits; tests compare both paths).
@inline(__always)
func softmax(_ s: UnsafeMutablePointer<Float>, count n: Int, vectorKernel: Bool = VectorKernels.supported) {
    let padded = (n + 15) / 16 * 16
    // Below -87 the exponential is under 2e-38, nothing beside the maximum's 1. Swift's `max`
    // is a compare and blend per score; the C kernel takes eight at a time.
    if vectorKernel {
        _ = ec_shift_by_max(s, Int32(n), Int32(padded), -87)
    } else {
        var m = -Float.infinity
        for p in 0..<n { m = max(m, s[p]) }
        for p in 0..<padded { s[p] = p < n ? max(s[p] - m, -87) : -87 }
    }
    var sums = SIMD16<Float>()
    let raw = UnsafeMutableRawPointer(s)
    for p in Swift.stride(from: 0, to: padded, by: 16) {
        let e = approximateExp(raw.loadUnaligned(fromByteOffset: p * 4, as: SIMD16<Float>.self))
        raw.storeBytes(of: e, toByteOffset: p * 4, as: SIMD16<Float>.self)
        sums += e
    }
    let inv = 1 / sums.sum()
    for p in 0..<n { s[p] *= inv }
}

/// The C attention kernels of one instruction set: 512-bit or 256-bit lanes, the same bits.
struct AttentionTiles {
    typealias Scores = @convention(c) (UnsafePointer<Float>?, UnsafePointer<Int32>?, Int32, Int32, UnsafeRawPointer?, Int32, Int32, Float,
                                       UnsafeMutablePointer<Float>?, Int32) -> Void
    typealias Values = @convention(c) (UnsafePointer<Float>?, Int32, UnsafeRawPointer?, Int32, Int32, UnsafeMutablePointer<Float>?, Int32) -> Void
    typealias OwnScores = @convention(c) (UnsafePointer<Float>?, UnsafeRawPointer?, Int32, Int32, Int32, Float, UnsafeMutablePointer<Float>?, Int32) -> Void
    typealias OwnValues = @convention(c) (UnsafePointer<Float>?, Int32, UnsafeRawPointer?, Int32, Int32, UnsafeMutablePointer<Float>?) -> Void

    /// A shared range's scores for up to three rows at a time (`ec_tile_scores64`).
    let scores: Scores
    /// A shared range's value sums for one or two rows (`ec_tile_values64`).
    let values: Values
    /// One row's own positions' scores (`ec_own_scores64`).
    let ownScores: OwnScores
    /// One row's own positions' value sums (`ec_own_values64`).
    let ownValues: OwnValues

    /// The kernels `set` runs; nil for the portable set (the Swift tiles run instead).
    init?(_ set: InstructionSet) {
        switch set {
        case .portable: return nil
        case .avx2: (scores, values, ownScores, ownValues) = (ec_tile_scores64_avx2, ec_tile_values64_avx2, ec_own_scores64_avx2, ec_own_values64_avx2)
        case .avx512vnni: (scores, values, ownScores, ownValues) = (ec_tile_scores64, ec_tile_values64, ec_own_scores64, ec_own_values64)
        }
    }
}
