import Testing
import TestSupport
@testable import Engine

@Suite("Weight layout and kernels", .serialized)
struct WeightKernelTests {
    /// Random activations quantized the way the engine quantizes them.
    static func activations(rows: Int, cols: Int) -> (QuantizedActivations, [Float]) {
        var rng = SystemRandomNumberGenerator()
        let x = (0..<(rows * cols)).map { _ in Float.random(in: -3...3, using: &rng) }
        let q = QuantizedActivations(rows: rows, cols: cols)
        x.withUnsafeBufferPointer { q.quantize($0.baseAddress!, rows: rows) }
        return (q, x)
    }

    @Test("the C quantizer stores the Swift quantizer's bits: quants, scales, sums, dequantized values", .enabled(if: VectorKernels.supported, "this CPU has no AVX2, F16C and FMA: only the Swift path runs"))
    func vectorQuantizerMatchesSwift() throws {
        var rng = SystemRandomNumberGenerator()
        let rows = 3, cols = 576
        var x = (0..<(rows * cols)).map { _ in Float.random(in: -3...3, using: &rng) }
        // A block of zeros, and one whose maximum is 127 so that halves are ties to round to even.
        for j in 0..<32 { x[32 + j] = 0 }
        for j in 0..<32 { x[64 + j] = j == 0 ? 127 : Float(j % 8) - 3.5 }
        let vector = QuantizedActivations(rows: rows, cols: cols), plain = QuantizedActivations(rows: rows, cols: cols)
        x.withUnsafeBufferPointer {
            vector.quantize($0.baseAddress!, blocks: 0..<(rows * cols / 32), vectorKernel: true)
            plain.quantize($0.baseAddress!, blocks: 0..<(rows * cols / 32), vectorKernel: false)
        }
        #expect(plain.q[64 + BlockOrder.element(1)] == -2 && plain.q[64 + BlockOrder.element(2)] == -2, "ties to even: -2.5 and -1.5 both give -2")
        #expect(Array(UnsafeBufferPointer(start: vector.q, count: rows * cols)) == Array(UnsafeBufferPointer(start: plain.q, count: rows * cols)))
        for i in 0..<(rows * cols / 32) {
            #expect(vector.d[i].bitPattern == plain.d[i].bitPattern && vector.s[i].bitPattern == plain.s[i].bitPattern, "block \(i)")
            let quants = (0..<32).reduce(Int32(0)) { $0 + Int32(plain.q[i * 32 + $1]) }
            #expect(vector.sums[i] == quants && plain.sums[i] == quants, "block \(i): exact sum of the quants")
        }
        for i in 0..<(rows * cols) { #expect(vector.dequantized[i].bitPattern == plain.dequantized[i].bitPattern, "element \(i)") }
    }

    @Test("an expanded row is the embedding row in block order", arguments: ["q4_1", "q8_0"])
    func expandedRowsMatch(kind: String) {
        let w = kind == "q4_1" ? Shared.model.layers[0].wk : Shared.model.output
        #expect(w.layout == (kind == "q4_1" ? .q4_1 : .q8_0))
        let expanded = UnsafeMutablePointer<Float>.allocate(capacity: w.cols)
        let row = UnsafeMutablePointer<Float>.allocate(capacity: w.cols)
        defer { expanded.deallocate(); row.deallocate() }
        for r in [0, 5, w.rows - 1] {
            w.expandRow(r, into: expanded)
            w.dequantizeRow(r, into: row)
            #expect((0..<w.cols).allSatisfy { expanded[$0] == row[($0 / 32) * 32 + BlockOrder.element($0 % 32)] }, "row \(r)")
        }
    }

    @Test("float tiles agree with the integer kernels for every batch width and matrix kind",
          arguments: [("q4_1", 2), ("q4_1", 3), ("q4_1", 4), ("q4_1", 5), ("q4_1", 8), ("q4_1", 10), ("q4_1", 13), ("q4_1", 16), ("q8_0", 3), ("q8_0", 10)])
    func tilesAgree(kind: String, batch: Int) {
        Self.compareWithExact(kind: kind, batch: batch, panels: nil)
    }

    @Test("VNNI panels agree with the integer kernels for every batch width and matrix kind",
          .enabled(if: InstructionSet.host >= .avx512vnni, "this CPU has no AVX-512 VNNI"),
          arguments: [("q4_1", 1), ("q4_1", 2), ("q4_1", 3), ("q4_1", 5), ("q4_1", 8), ("q4_1", 10), ("q4_1", 13), ("q4_1", 16), ("q8_0", 1), ("q8_0", 3), ("q8_0", 10)])
    func integerPanelsAgree(kind: String, batch: Int) {
        Self.compareWithExact(kind: kind, batch: batch, panels: .vnni512)
    }

    @Test("AVX2 panels agree with the integer kernels for every batch width and matrix kind",
          .enabled(if: InstructionSet.host >= .avx2, "this CPU has no AVX2 with FMA and F16C"),
          arguments: [("q4_1", 1), ("q4_1", 2), ("q4_1", 3), ("q4_1", 4), ("q4_1", 5), ("q4_1", 7), ("q4_1", 10), ("q4_1", 16), ("q8_0", 1), ("q8_0", 2), ("q8_0", 5), ("q8_0", 10)])
    func avx2PanelsAgree(kind: String, batch: Int) {
        Self.compareWithExact(kind: kind, batch: batch, panels: .avx2)
    }

    /// The two panel kernels form the same integer sums and the same float steps per lane, so
    /// a model decodes the same tokens with the same probabilities on AVX2 and VNNI machines.
    @Test("AVX2 panels write the VNNI panels' bits, for both matrix kinds and extreme weights",
          .enabled(if: InstructionSet.host >= .avx512vnni, "this CPU has no AVX-512 VNNI to compare with (the AVX2 panels are checked against the integer kernels above)"),
          arguments: ["q4_1", "q8_0"])
    func avx2PanelsMatchVNNI(kind: String) {
        let w = kind == "q4_1" ? Shared.model.layers[5].gate : Shared.model.output
        for batch in [1, 3, 8, 11] {
            let (xq, x) = Self.activations(rows: batch, cols: w.cols)
            // Activation blocks at the quantizer's extremes, where 16-bit pair sums come closest
            // to saturating.
            for j in 0..<32 { xq.q[j] = j % 2 == 0 ? 127 : -127 }
            xq.sums[0] = 0
            let vnni = UnsafeMutablePointer<Float>.allocate(capacity: batch * w.rows)
            let avx2 = UnsafeMutablePointer<Float>.allocate(capacity: batch * w.rows)
            defer { vnni.deallocate(); avx2.deallocate() }
            x.withUnsafeBufferPointer { xf in
                matmul(w, xq, xf.baseAddress!, batch: batch, into: vnni, rowRange: 0..<w.rows, kernels: .fast, panels: .vnni512)
                matmul(w, xq, xf.baseAddress!, batch: batch, into: avx2, rowRange: 0..<w.rows, kernels: .fast, panels: .avx2)
            }
            let differing = (0..<(batch * w.rows)).filter { vnni[$0].bitPattern != avx2[$0].bitPattern }
            #expect(differing.isEmpty, "batch \(batch): \(differing.count) outputs differ, first at \(differing.first ?? -1)")
        }
    }

    /// The fast kernels' products (over shares as the engine splits them, whole panels, and
    /// one that starts mid-panel) against the exact integer kernels on the same activations.
    static func compareWithExact(kind: String, batch: Int, panels: IntegerPanels.Kernel?) {
        let w = kind == "q4_1" ? Shared.model.layers[3].down : Shared.model.output
        let (xq, x) = Self.activations(rows: batch, cols: w.cols)
        let exact = UnsafeMutablePointer<Float>.allocate(capacity: batch * w.rows)
        let fast = UnsafeMutablePointer<Float>.allocate(capacity: batch * w.rows)
        defer { exact.deallocate(); fast.deallocate() }
        fast.initialize(repeating: .nan, count: batch * w.rows)
        let middle = w.rows / 2 / 16 * 16
        x.withUnsafeBufferPointer { xf in
            matmul(w, xq, xf.baseAddress!, batch: batch, into: exact, rowRange: 0..<w.rows, kernels: .exact)
            for range in [0..<middle, middle..<(w.rows - 21), (w.rows - 21)..<w.rows] {
                matmul(w, xq, xf.baseAddress!, batch: batch, into: fast, rowRange: range, kernels: .fast, panels: panels)
            }
        }
        var worst: Float = 0, scale: Float = 0, unwritten = 0
        for i in 0..<(batch * w.rows) {
            if fast[i].isNaN { unwritten += 1 }
            worst = max(worst, abs(exact[i] - fast[i]))
            scale = max(scale, abs(exact[i]))
        }
        // Same products of the same rounded activations, summed in another order; the integer
        // side's Q4_1 offset term uses llama.cpp's fp16-rounded block sums (relative 2^-11).
        // A tile that mixed up rows or columns would be off by the values themselves, and an
        // output left unwritten is NaN.
        #expect(unwritten == 0)
        #expect(scale > 0.1)
        #expect(worst <= scale * 3e-3, "largest difference \(worst) against values up to \(scale)")
    }
}
