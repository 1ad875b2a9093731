import Foundation

/// Where a context's forward passes spend their time, stage by stage (`bench engine --profile`).
///
/// A stage is timed around its whole parallel dispatch, so the figures are wall time that the
/// threads spent together, and they add up to the pass.
public final class ForwardProfile {
    /// The steps of a forward pass, in order.
    public enum Stage: String, CaseIterable, Sendable {
        case embedding = "embedding lookup"
        case normalize = "rms norm + quantize"
        case qkv = "matmul q, k, v"
        case ropeAndCache = "rope + kv cache store"
        case attention = "attention"
        case quantize = "quantize activations"
        case outputProjection = "matmul attention output"
        case residual = "residual adds"
        case gateUp = "matmul ffn gate + up"
        case activation = "swiglu + quantize"
        case down = "matmul ffn down"
        case head = "output norm + vocabulary head"
    }

    private var nanoseconds = [UInt64](repeating: 0, count: Stage.allCases.count)
    /// Forward passes and rows timed.
    public private(set) var passes = 0, rows = 0

    public init() {}

    /// Seconds spent in `stage` so far.
    public func seconds(_ stage: Stage) -> Double {
        Double(nanoseconds[Stage.allCases.firstIndex(of: stage)!]) / 1e9
    }

    /// Seconds in all stages.
    public var total: Double { Double(nanoseconds.reduce(0, +)) / 1e9 }

    func count(rows n: Int) {
        passes += 1
        rows += n
    }

    func time<T>(_ stage: Stage, _ body: () -> T) -> T {
        let start = DispatchTime.now().uptimeNanoseconds
        defer { nanoseconds[Stage.allCases.firstIndex(of: stage)!] += DispatchTime.now().uptimeNanoseconds - start }
        return body()
    }
}
