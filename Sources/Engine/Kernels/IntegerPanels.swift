import CKernels

/// A quantized matrix's rows sixteen at a time in the layout of AVX-512 VNNI dot products:
/// in panel p, block b, group g of four stored positions, row 16p + t's four bytes sit at
/// `g * 64 + t * 4`, so one 64-byte load feeds one vpdpbusd for sixteen rows. Q4_1 keeps its
/// nibbles packed (a byte's high nibble is the position sixteen later, as in `BlockOrder`);
/// Q8_0's signed bytes are stored plus 128, unsigned, so the activations go in as they are
/// (the kernel takes 128 times their sum back out). Built on the first fast forward pass;
/// where the CPU has VNNI or AVX2 it takes the place of `Panels` and of the single-row integer
/// dot products. Both kernels read this one layout and write the same bits.
final class IntegerPanels: @unchecked Sendable {
    /// The kernels that multiply these panels.
    enum Kernel: Sendable {
        /// 512-bit vpdpbusd, sixteen rows per instruction.
        case vnni512
        /// 256-bit vpmaddubsw, eight rows at a time.
        case avx2
    }

    let count: Int
    let blocksPerRow: Int
    let nibbles: Bool
    private let q: UnsafeMutableRawPointer
    private let d: UnsafeMutablePointer<Float>
    private let m: UnsafeMutablePointer<Float>

    init(_ w: WeightMatrix) {
        precondition(w.layout != .f32, "integer panels hold quantized rows")
        let n = Panels.rows, nb = w.blocksPerRow
        count = (w.rows + n - 1) / n
        blocksPerRow = nb
        nibbles = w.layout == .q4_1
        let bytes = nibbles ? 16 : 32
        let slots = count * nb * n
        // Rows past the matrix (a partial last panel) stay zero; 64-byte alignment for the loads.
        q = .allocate(byteCount: slots * bytes, alignment: 64)
        q.initializeMemory(as: UInt8.self, repeating: 0, count: slots * bytes)
        d = UnsafeMutableRawPointer.allocate(byteCount: slots * 4, alignment: 64).initializeMemory(as: Float.self, repeating: 0, count: slots)
        // Only Q4_1 has block minimums; Q8_0's offset comes out of the integer sums.
        let minimums = nibbles ? slots : 0
        m = UnsafeMutableRawPointer.allocate(byteCount: minimums * 4, alignment: 64).initializeMemory(as: Float.self, repeating: 0, count: minimums)
        // Four bytes (one group of one row) at a time: this runs on the first forward pass.
        let src = UnsafeRawPointer(w.q)
        for r in 0..<w.rows {
            let (p, t) = r.quotientAndRemainder(dividingBy: n)
            for b in 0..<nb {
                let slot = (p * nb + b) * n
                let block = src + (r * nb + b) * bytes
                d[slot + t] = w.d[r * nb + b]
                if nibbles { m[slot + t] = w.m[r * nb + b] }
                // Flipping each byte's top bit adds 128 to a signed byte, read as unsigned.
                let flip: UInt32 = nibbles ? 0 : 0x8080_8080
                for g in 0..<(bytes / 4) {
                    q.storeBytes(of: block.loadUnaligned(fromByteOffset: 4 * g, as: UInt32.self) ^ flip,
                                 toByteOffset: slot * bytes + g * 64 + t * 4, as: UInt32.self)
                }
            }
        }
    }

    deinit {
        q.deallocate()
        d.deallocate()
        m.deallocate()
    }

    /// out[b * rows + r] for the rows of `panels` (rows past `rows` are not written).
    func multiply(_ xq: QuantizedActivations, batch: Int, rows: Int, into out: UnsafeMutablePointer<Float>, panels: Range<Int>, kernel: Kernel) {
        let bytes = q.assumingMemoryBound(to: UInt8.self)
        switch kernel {
        case .vnni512:
            ec_dot_panels(bytes, d, m, Int32(blocksPerRow), nibbles ? 1 : 0,
                          Int32(panels.lowerBound), Int32(panels.upperBound), Int32(rows),
                          xq.q, xq.d, xq.s, xq.sums, Int32(batch), out, Int32(rows))
        case .avx2:
            ec_dot_panels_avx2(bytes, d, m, Int32(blocksPerRow), nibbles ? 1 : 0,
                               Int32(panels.lowerBound), Int32(panels.upperBound), Int32(rows),
                               xq.q, xq.d, xq.s, Int32(batch), out, Int32(rows))
        }
    }
}
