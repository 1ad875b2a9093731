import Foundation

/// RMS normalization of `n` floats, scaled by `weight`.
@inline(__always)
func rmsNorm(_ x: UnsafePointer<Float>, _ weight: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, _ n: Int, eps: Float) {
    // Summed in Double like ggml: the residual stream has outliers in the hundreds.
    var ss: Double = 0
    for i in 0..<n { ss += Double(x[i] * x[i]) }
    let scale = 1 / (Float(ss / Double(n)) + eps).squareRoot()
    for i in 0..<n { out[i] = x[i] * scale * weight[i] }
}

/// Rotates adjacent pairs (x[2i], x[2i+1]) of each head by position-dependent angles (RoPE, normal mode).
@inline(__always)
func rope(_ x: UnsafeMutablePointer<Float>, heads: Int, headDim: Int, cos: UnsafePointer<Float>, sin: UnsafePointer<Float>) {
    for h in 0..<heads {
        let v = x + h * headDim
        for i in 0..<(headDim / 2) {
            let a = v[2 * i], b = v[2 * i + 1]
            // Fused the way llama.cpp's compiled rope contracts them, so results match bit for bit.
            v[2 * i] = (-(b * sin[i])).addingProduct(a, cos[i])
            v[2 * i + 1] = (b * cos[i]).addingProduct(a, sin[i])
        }
    }
}

/// SiLU(gate) * up, in place in `gate`.
@inline(__always)
func swiglu(_ gate: UnsafeMutablePointer<Float>, _ up: UnsafePointer<Float>, _ n: Int) {
    // A plain loop over scalar code: the compiler vectorizes it (SIMD-typed code with
    // comparisons and conversions would run element by element).
    for i in 0..<n {
        let g = gate[i]
        gate[i] = g / (1 + approximateExp(0 - g)) * up[i]
    }
}

/// e^x with llama.cpp's vectorised approximation (range reduction to a degree-5 polynomial,
/// within 1.5 ulp): using glibc's expf instead moves this model's logits by up to 0.3 nats.
@inline(__always)
func approximateExp(_ x: Float) -> Float {
    let shifter: Float = 0x1.8p23
    let z = shifter.addingProduct(x, 0x1.715476p+0)
    let n = z - shifter
    let b = x.addingProduct(-n, 0x1.62e4p-1).addingProduct(-n, 0x1.7f7d1cp-20)
    let u = b * b
    let high = Float(0x1.573e2ep-5).addingProduct(0x1.0e4020p-7, b)
    let mid = Float(0x1.fffdb6p-2).addingProduct(0x1.555e66p-3, b)
    let low = Float(1).addingProduct(0x1.ffffecp-1, b)
    let j = low.addingProduct(mid.addingProduct(high, u), u)
    // The shifter leaves n in z's low mantissa bits. j * 2^n in two exact steps is what
    // scaling by 2^n computes (one rounding, even into subnormals), for |n| <= 192.
    let e = Int32(bitPattern: z.bitPattern) &- Int32(bitPattern: shifter.bitPattern)
    let half = e >> 1
    let scaled = j * Float(bitPattern: UInt32(bitPattern: (half &+ 127) &<< 23)) * Float(bitPattern: UInt32(bitPattern: (e &- half &+ 127) &<< 23))
    return abs(n) > 192 ? (n <= 0 ? 0 : .infinity) : scaled
}

/// `approximateExp` in sixteen lanes for arguments in [-87, 88], where 2^n is one exponent
/// field (no comparisons: Swift runs SIMD comparisons lane by lane).
@inline(__always)
func approximateExp(_ x: SIMD16<Float>) -> SIMD16<Float> {
    typealias V = SIMD16<Float>
    let shifter = V(repeating: 0x1.8p23)
    let z = shifter.addingProduct(x, V(repeating: 0x1.715476p+0))
    let n = z - shifter
    let b = x.addingProduct(-n, V(repeating: 0x1.62e4p-1)).addingProduct(-n, V(repeating: 0x1.7f7d1cp-20))
    let u = b * b
    let high = V(repeating: 0x1.573e2ep-5).addingProduct(V(repeating: 0x1.0e4020p-7), b)
    let mid = V(repeating: 0x1.fffdb6p-2).addingProduct(V(repeating: 0x1.555e66p-3), b)
    let low = V(repeating: 1).addingProduct(V(repeating: 0x1.ffffecp-1), b)
    let j = low.addingProduct(mid.addingProduct(high, u), u)
    let e = unsafeBitCast(z, to: SIMD16<Int32>.self) &- unsafeBitCast(shifter, to: SIMD16<Int32>.self)
    return j * unsafeBitCast((e &+ 127) &<< 23, to: V.self)
}
