import Dispatch

/// Splits `0..<count` into `threads` contiguous chunks and runs them at once.
@inline(__always)
func parallelChunks(_ count: Int, threads: Int, _ body: (Range<Int>) -> Void) {
    let n = min(threads, count)
    if n <= 1 {
        body(0..<count)
        return
    }
    // The chunks write disjoint ranges; the closure is not escaping past this call.
    nonisolated(unsafe) let body = body
    DispatchQueue.concurrentPerform(iterations: n) { t in
        let lo = count * t / n, hi = count * (t + 1) / n
        if lo < hi { body(lo..<hi) }
    }
}
