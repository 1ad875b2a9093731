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

/// SiLU(gate) * up, in place in `gate`; `n` is a multiple of 16.
@inline(__always)
func swiglu(_ gate: UnsafeMutablePointer<Float>, _ up: UnsafePointer<Float>, _ n: Int) {
    typealias V = SIMD16<Float>
    var i = 0
    while i < n {
        let g = UnsafeRawPointer(gate + i).loadUnaligned(as: V.self)
        let u = UnsafeRawPointer(up + i).loadUnaligned(as: V.self)
        let silu = g / (1 + vectorExp(0 - g))
        UnsafeMutableRawPointer(gate + i).storeBytes(of: silu * u, as: V.self)
        i += 16
    }
}

/// e^x with llama.cpp's vectorised approximation (range reduction to a degree-5 polynomial,
/// within 1.5 ulp): using glibc's expf instead moves this model's logits by up to 0.3 nats.
@inline(__always)
func vectorExp(_ x: SIMD16<Float>) -> SIMD16<Float> {
    typealias V = SIMD16<Float>
    let shifter = V(repeating: 0x1.8p23)
    let z = shifter.addingProduct(x, V(repeating: 0x1.715476p+0))
    let n = z - shifter
    let b = (x.addingProduct(-n, V(repeating: 0x1.62e4p-1))).addingProduct(-n, V(repeating: 0x1.7f7d1cp-20))
    let u = b * b
    let high = V(repeating: 0x1.573e2ep-5).addingProduct(V(repeating: 0x1.0e4020p-7), b)
    let mid = V(repeating: 0x1.fffdb6p-2).addingProduct(V(repeating: 0x1.555e66p-3), b)
    let low = V(repeating: 1).addingProduct(V(repeating: 0x1.ffffecp-1), b)
    let j = low.addingProduct(mid.addingProduct(high, u), u)
    // n is a whole number: 2^n from its exponent bits when in the normal range.
    let e = SIMD16<Int32>(n)
    if all(e .>= -126 .& e .<= 127) {
        return j * unsafeBitCast((e &+ 127) &<< 23, to: V.self)
    }
    var r = V()
    for k in 0..<16 {
        r[k] = abs(n[k]) > 192 ? (n[k] <= 0 ? 0 : .infinity) : Float(sign: .plus, exponent: Int(e[k]), significand: j[k])
    }
    return r
}
