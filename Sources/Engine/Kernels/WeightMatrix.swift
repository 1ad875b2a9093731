import Foundation
import GGUF

/// A weight matrix repacked at load time into what the kernels read fastest:
/// fp32 block scales (fp16 conversion is a library call without a CPU target)
/// and the quantized bytes contiguous per row, in `BlockOrder`.
final class WeightMatrix: @unchecked Sendable {
    enum Layout { case q4_1, q8_0, f32 }

    let name: String
    let rows: Int
    let cols: Int
    let blocksPerRow: Int
    let layout: Layout
    /// Block scales, `rows * blocksPerRow`.
    let d: UnsafeMutablePointer<Float>
    /// Block minimums (Q4_1 only).
    let m: UnsafeMutablePointer<Float>
    /// Q4_1: 16 bytes of nibbles per block; Q8_0: 32 signed bytes per block; both in `BlockOrder`.
    let q: UnsafeMutableRawPointer
    /// F32 layout: the weights themselves.
    let f: UnsafeMutablePointer<Float>

    /// Repacks a 2-D tensor: `shape[0]` is the row length (input size), `shape[1]` the row count.
    init(_ info: GGUFTensorInfo, in file: GGUFFile) throws {
        guard info.shape.count == 2 || (info.shape.count == 1) else {
            throw GGUFError(.corrupt, path: file.path, "tensor \(info.name) should be a matrix but has shape \(info.shape)")
        }
        name = info.name
        cols = info.shape[0]
        rows = info.shape.count > 1 ? info.shape[1] : 1
        blocksPerRow = cols / 32
        let src = file.pointer(to: info)
        let nb = rows * (cols / 32)
        switch info.type {
        case .q4_1, .q4_0:
            guard cols % 32 == 0 else { throw GGUFError(.corrupt, path: file.path, "\(info.name): row length \(cols) not a multiple of 32") }
            layout = .q4_1
            d = .allocate(capacity: nb)
            m = .allocate(capacity: nb)
            q = .allocate(byteCount: nb * 16, alignment: 64)
            f = .allocate(capacity: 1)
            let isQ4_1 = info.type == .q4_1
            let stride = isQ4_1 ? 20 : 18
            let qs = q.assumingMemoryBound(to: UInt8.self)
            for b in 0..<nb {
                let blk = src + b * stride
                let scale = Float(Float16(bitPattern: blk.loadUnaligned(as: UInt16.self)))
                d[b] = scale
                // Q4_0 is Q4_1 with the minimum fixed at -8 times the scale.
                m[b] = isQ4_1 ? Float(Float16(bitPattern: blk.loadUnaligned(fromByteOffset: 2, as: UInt16.self))) : -8 * scale
                let bytes = (blk + (isQ4_1 ? 4 : 2)).assumingMemoryBound(to: UInt8.self)
                // Byte s holds both nibbles of element BlockOrder.element(s) and of the one 16 later.
                for s in 0..<16 { qs[b * 16 + s] = bytes[BlockOrder.element(s)] }
            }
        case .q8_0:
            guard cols % 32 == 0 else { throw GGUFError(.corrupt, path: file.path, "\(info.name): row length \(cols) not a multiple of 32") }
            layout = .q8_0
            d = .allocate(capacity: nb)
            m = .allocate(capacity: 1)
            q = .allocate(byteCount: nb * 32, alignment: 64)
            f = .allocate(capacity: 1)
            let qs = q.assumingMemoryBound(to: UInt8.self)
            for b in 0..<nb {
                let blk = src + b * 34
                d[b] = Float(Float16(bitPattern: blk.loadUnaligned(as: UInt16.self)))
                let bytes = (blk + 2).assumingMemoryBound(to: UInt8.self)
                for s in 0..<32 { qs[b * 32 + s] = bytes[BlockOrder.element(s)] }
            }
        case .f32, .f16:
            layout = .f32
            d = .allocate(capacity: 1)
            m = .allocate(capacity: 1)
            q = .allocate(byteCount: 1, alignment: 64)
            f = .allocate(capacity: rows * cols)
            for i in 0..<(rows * cols) {
                f[i] = info.type == .f32
                    ? src.loadUnaligned(fromByteOffset: i * 4, as: Float.self)
                    : Float(Float16(bitPattern: src.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self)))
            }
        }
    }

    deinit {
        d.deallocate()
        m.deallocate()
        q.deallocate()
        f.deallocate()
    }

    private var panelCopy: Panels?
    private var integerPanelCopy: IntegerPanels?
    private let panelLock = NSLock()

    /// The weights sixteen rows at a time for the batched float tiles, made on first use:
    /// single sequences and the exact kernels never pay for the copy.
    func panels() -> Panels {
        panelLock.withLock { made(&panelCopy) { Panels(self) } }
    }

    /// The weights sixteen rows at a time for the VNNI kernel, made on first use.
    func integerPanels() -> IntegerPanels {
        panelLock.withLock { made(&integerPanelCopy) { IntegerPanels(self) } }
    }

    private func made<T>(_ slot: inout T?, _ make: () -> T) -> T {
        if let made = slot { return made }
        let fresh = make()
        slot = fresh
        return fresh
    }

    /// One row as floats in the file's element order (embedding lookup).
    func dequantizeRow(_ r: Int, into out: UnsafeMutablePointer<Float>) {
        guard layout != .f32 else {
            out.update(from: f + r * cols, count: cols)
            return
        }
        let blocks = UnsafeMutablePointer<Float>.allocate(capacity: cols)
        defer { blocks.deallocate() }
        expandRow(r, into: blocks)
        for b in 0..<blocksPerRow {
            for s in 0..<32 { out[b * 32 + BlockOrder.element(s)] = blocks[b * 32 + s] }
        }
    }

    /// One quantized row as floats, each block in `BlockOrder` (what the float tiles multiply
    /// with activations stored in the same order).
    func expandRow(_ r: Int, into out: UnsafeMutablePointer<Float>) {
        switch layout {
        case .f32:
            out.update(from: f + r * cols, count: cols)
        case .q8_0:
            let qs = q.assumingMemoryBound(to: Int8.self)
            for b in 0..<blocksPerRow {
                let scale = d[r * blocksPerRow + b]
                let src = qs + (r * blocksPerRow + b) * 32
                let dst = out + b * 32
                for j in 0..<32 { dst[j] = Float(src[j]) * scale }
            }
        case .q4_1:
            let qs = q.assumingMemoryBound(to: UInt8.self)
            for b in 0..<blocksPerRow {
                let i = r * blocksPerRow + b
                let src = qs + i * 16
                // Scale and minimum in locals: through the pointers the compiler must assume
                // every store to `out` may change them.
                let scale = d[i], minimum = m[i]
                let dst = out + b * 32
                for j in 0..<16 {
                    dst[j] = Float(src[j] & 0xF) * scale + minimum
                    dst[j + 16] = Float(src[j] >> 4) * scale + minimum
                }
            }
        }
    }
}

/// The order of the 32 values inside every quantized block, weights and activations alike.
///
/// llama.cpp's x86 kernels sum each block's integer products in eight lanes of four
/// neighbours (lane j: elements 4j..<4j+4) and accumulate the lanes in floats; matching its
/// logits bit for bit needs those same partial sums. Storing each half-block as a 4x4
/// transpose (position 4t+m holds element 4m+t) turns them into plain vertical sums that
/// the compiler vectorizes, while a Q4 byte still holds elements e and e+16.
enum BlockOrder {
    /// The element stored at position `s` of a block; the mapping is its own inverse.
    @inline(__always)
    static func element(_ s: Int) -> Int {
        (s & 16) | ((s & 3) << 2) | ((s >> 2) & 3)
    }
}

/// A quantized matrix's rows interleaved sixteen at a time: in panel p, block b, stored
/// byte s of row 16p + t sits at `s * 16 + t`, and the block's sixteen scales (and minimums)
/// side by side. Expanding a panel to floats is then whole-vector work, and the result holds
/// the sixteen rows' weights for one input position together, which the outer-product tiles read.
final class Panels: @unchecked Sendable {
    static let rows = 16
    let count: Int
    let layout: WeightMatrix.Layout
    let blocksPerRow: Int
    private let q: UnsafeMutableRawPointer
    private let d: UnsafeMutablePointer<Float>
    private let m: UnsafeMutablePointer<Float>

    init(_ w: WeightMatrix) {
        precondition(w.layout != .f32, "panels hold quantized rows")
        let n = Self.rows, nb = w.blocksPerRow
        count = (w.rows + n - 1) / n
        layout = w.layout
        blocksPerRow = nb
        let bytes = w.layout == .q4_1 ? 16 : 32
        let slots = count * nb * n
        // Rows past the matrix (a partial last panel) stay zero.
        q = .allocate(byteCount: slots * bytes, alignment: 64)
        q.initializeMemory(as: UInt8.self, repeating: 0, count: slots * bytes)
        d = .allocate(capacity: slots)
        d.initialize(repeating: 0, count: slots)
        m = .allocate(capacity: slots)
        m.initialize(repeating: 0, count: slots)
        let src = w.q.assumingMemoryBound(to: UInt8.self), dst = q.assumingMemoryBound(to: UInt8.self)
        for r in 0..<w.rows {
            let (p, t) = r.quotientAndRemainder(dividingBy: n)
            for b in 0..<nb {
                let slot = (p * nb + b) * n
                d[slot + t] = w.d[r * nb + b]
                if layout == .q4_1 { m[slot + t] = w.m[r * nb + b] }
                for s in 0..<bytes { dst[(slot * bytes) + s * n + t] = src[(r * nb + b) * bytes + s] }
            }
        }
    }

    deinit {
        q.deallocate()
        d.deallocate()
        m.deallocate()
    }

    /// Panel `p` as floats, input-position major: `out[k * 16 + t]` is row 16p + t's weight at
    /// stored position k (blocks in `BlockOrder`, like the activations they meet).
    func expand(_ p: Int, into out: UnsafeMutablePointer<Float>) {
        typealias V = SIMD16<Float>
        let n = Self.rows, nb = blocksPerRow
        for b in 0..<nb {
            let slot = (p * nb + b) * n
            // Scales as values: read through pointers, every store to `out` could change them.
            let scale = UnsafeRawPointer(d + slot).loadUnaligned(as: V.self)
            let minimum = UnsafeRawPointer(m + slot).loadUnaligned(as: V.self)
            let dst = UnsafeMutableRawPointer(out + b * 32 * n)
            switch layout {
            case .q4_1:
                let src = q.assumingMemoryBound(to: UInt8.self) + slot * 16
                for s in 0..<16 {
                    let bytes = src + s * n
                    var lo = V(), hi = V()
                    for t in 0..<16 {
                        lo[t] = Float(bytes[t] & 0xF)
                        hi[t] = Float(bytes[t] >> 4)
                    }
                    dst.storeBytes(of: minimum.addingProduct(lo, scale), toByteOffset: s * n * 4, as: V.self)
                    dst.storeBytes(of: minimum.addingProduct(hi, scale), toByteOffset: (s + 16) * n * 4, as: V.self)
                }
            case .q8_0:
                let src = q.assumingMemoryBound(to: Int8.self) + slot * 32
                for s in 0..<32 {
                    let bytes = src + s * n
                    var row = V()
                    for t in 0..<16 { row[t] = Float(bytes[t]) }
                    dst.storeBytes(of: row * scale, toByteOffset: s * n * 4, as: V.self)
                }
            case .f32:
                break
            }
        }
    }
}
