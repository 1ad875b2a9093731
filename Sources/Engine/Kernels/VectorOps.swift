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
            v[2 * i] = a * cos[i] - b * sin[i]
            v[2 * i + 1] = a * sin[i] + b * cos[i]
        }
    }
}

/// SiLU(gate) * up, in place in `gate`.
@inline(__always)
func swiglu(_ gate: UnsafeMutablePointer<Float>, _ up: UnsafePointer<Float>, _ n: Int) {
    for i in 0..<n {
        let g = gate[i]
        gate[i] = g / (1 + expf(-g)) * up[i]
    }
}
