/// The keys and values one sequence has cached, per layer.
///
/// Entries are fp16, like llama.cpp's default cache: half the memory, and the
/// same rounding, which this small model's logits are sensitive to.
///
/// A sequence can start from a frozen `prefix` (the shared prompt of several
/// candidates): positions below `start` are read from the prefix, so a prompt
/// is prefilled once and its entries are shared, never copied.
public final class KVSequence: @unchecked Sendable {
    let prefix: KVSequence?
    /// First position this sequence stores itself.
    let start: Int
    /// Positions cached so far, including the prefix.
    public private(set) var length: Int
    let kvDim: Int
    let layers: Int
    private(set) var capacity: Int
    private(set) var keys: [UnsafeMutablePointer<Float16>]
    private(set) var values: [UnsafeMutablePointer<Float16>]
    /// The keys again, in blocks of 16 positions, dimension-major within a block
    /// (`[block][dimension][lane]`): a row's own positions are scored sixteen at a time from
    /// plain loads rather than gathers, which are slow on some CPUs.
    private(set) var keyBlocks: [UnsafeMutablePointer<Float16>]

    /// - Parameter prefixLength: how many of the prefix's positions to reuse (default: all of them).
    init(layers: Int, kvDim: Int, prefix: KVSequence? = nil, prefixLength: Int? = nil) {
        let capacity = 64  // whole key blocks, as every doubling keeps it
        self.prefix = prefix
        self.start = prefix.map { min($0.length, prefixLength ?? $0.length) } ?? 0
        self.length = start
        self.kvDim = kvDim
        self.layers = layers
        self.capacity = capacity
        keys = (0..<layers).map { _ in .allocate(capacity: capacity * kvDim) }
        values = (0..<layers).map { _ in .allocate(capacity: capacity * kvDim) }
        keyBlocks = (0..<layers).map { _ in Self.zeroed(capacity * kvDim) }
    }

    deinit {
        keys.forEach { $0.deallocate() }
        values.forEach { $0.deallocate() }
        keyBlocks.forEach { $0.deallocate() }
    }

    // A block's unused lanes are read (and their scores dropped): zeros keep them harmless.
    private static func zeroed(_ count: Int) -> UnsafeMutablePointer<Float16> {
        let p = UnsafeMutablePointer<Float16>.allocate(capacity: count)
        p.initialize(repeating: 0, count: count)
        return p
    }

    /// Makes room for positions up to `end` (exclusive) before a forward pass writes them.
    func reserve(upTo end: Int) {
        let needed = end - start
        guard needed > capacity else { return }
        var newCap = capacity
        while newCap < needed { newCap *= 2 }
        for l in 0..<layers {
            let k = UnsafeMutablePointer<Float16>.allocate(capacity: newCap * kvDim)
            k.update(from: keys[l], count: (length - start) * kvDim)
            keys[l].deallocate()
            keys[l] = k
            let v = UnsafeMutablePointer<Float16>.allocate(capacity: newCap * kvDim)
            v.update(from: values[l], count: (length - start) * kvDim)
            values[l].deallocate()
            values[l] = v
            let b = Self.zeroed(newCap * kvDim)
            b.update(from: keyBlocks[l], count: capacity * kvDim)
            keyBlocks[l].deallocate()
            keyBlocks[l] = b
        }
        capacity = newCap
    }

    func commit(length newLength: Int) {
        length = max(length, newLength)
    }

    /// Forgets positions from `position` on (rollback); never below `start`.
    public func truncate(to position: Int) {
        length = max(start, min(length, position))
        if let m = mirror, m.count > length { mirror = nil }
    }

    /// fp32 copies of the positions this sequence held when it was made (see `FloatMirror`).
    private(set) var mirror: FloatMirror?

    /// Makes `mirror` cover every position cached so far; only for a sequence that starts at
    /// position 0 and whose cached positions are no longer written.
    func buildMirror(heads: Int, headDim: Int, pool: WorkerPool) {
        precondition(start == 0, "a mirror covers a sequence from position 0")
        if let m = mirror, m.count >= length { return }
        mirror = FloatMirror(self, heads: heads, headDim: headDim, pool: pool)
    }

    /// Storage for a position this sequence owns.
    @inline(__always)
    func key(_ layer: Int, _ pos: Int) -> UnsafeMutablePointer<Float16> { keys[layer] + (pos - start) * kvDim }
    /// Writes a position's key (all heads) to both layouts.
    @inline(__always)
    func storeKey(_ layer: Int, _ pos: Int, _ k: UnsafePointer<Float>) {
        let kp = key(layer, pos)
        let own = pos - start
        let bp = keyBlocks[layer] + (own / 16) * 16 * kvDim + own % 16
        for j in 0..<kvDim {
            let h = Float16(k[j])
            kp[j] = h
            bp[j * 16] = h
        }
    }
    /// Where the key block holding position `pos` starts, at dimension `offset`; the position
    /// is lane `(pos - start) % 16`, and the next block is `16 * kvDim` further on.
    @inline(__always)
    func keyBlock(_ layer: Int, _ pos: Int, offset: Int) -> UnsafeMutablePointer<Float16> {
        keyBlocks[layer] + ((pos - start) / 16 * kvDim + offset) * 16
    }
    @inline(__always)
    func value(_ layer: Int, _ pos: Int) -> UnsafeMutablePointer<Float16> { values[layer] + (pos - start) * kvDim }

    /// The chain of (sequence, positions) that together hold positions `0..<end`.
    func segments(upTo end: Int) -> [(KVSequence, Range<Int>)] {
        var out: [(KVSequence, Range<Int>)] = []
        var s: KVSequence? = self
        var hi = end
        while let seq = s, hi > 0 {
            let lo = seq.start
            if hi > lo { out.append((seq, lo..<hi)) }
            hi = min(hi, lo)
            s = seq.prefix
        }
        return out.reversed()
    }

    /// Positions stored here rather than in the prefix.
    public var ownedPositions: Int { length - start }
}

/// A frozen sequence's keys and values in fp32, laid out for the Swift attention tiles: keys in
/// blocks of 16 per head (`transposeKeys`), values key-major per head.
///
/// The few-shot prompt every request starts with is read by every row of every decode
/// step; converting it from fp16 once, instead of in every step, is a tenth of a batched step.
/// (The 512-bit tiles widen fp16 in registers and need no copy.)
final class FloatMirror: @unchecked Sendable {
    /// Positions covered.
    let count: Int
    /// Keys held per head: `count` rounded up to whole blocks.
    let width: Int
    let heads: Int, headDim: Int
    private let keyBlocks: [UnsafeMutablePointer<Float>]
    private let valueBlocks: [UnsafeMutablePointer<Float>]

    init(_ s: KVSequence, heads: Int, headDim: Int, pool: WorkerPool) {
        count = s.length
        width = (count + 15) / 16 * 16
        self.heads = heads
        self.headDim = headDim
        let (w, n) = (width, count)
        keyBlocks = (0..<s.layers).map { _ in .allocate(capacity: heads * headDim * w) }
        valueBlocks = (0..<s.layers).map { _ in .allocate(capacity: heads * headDim * n) }
        let (kb, vb) = (keyBlocks, valueBlocks)
        pool.chunks(s.layers * heads) { tasks in
            for task in tasks {
                let l = task / heads, off = (task % heads) * headDim
                transposeKeys({ UnsafePointer(s.key(l, $0) + off) }, count: n, dim: headDim, width: w, into: kb[l] + off * w)
                convertValues({ UnsafePointer(s.value(l, $0) + off) }, count: n, dim: headDim, into: vb[l] + off * n)
            }
        }
    }

    deinit {
        keyBlocks.forEach { $0.deallocate() }
        valueBlocks.forEach { $0.deallocate() }
    }

    /// Head `h`'s keys in layer `l`, in `transposeKeys`'s blocks.
    func keys(_ l: Int, _ h: Int) -> UnsafePointer<Float> { UnsafePointer(keyBlocks[l] + h * headDim * width) }
    /// Head `h`'s values in layer `l`: `values[p * headDim + d]`.
    func values(_ l: Int, _ h: Int) -> UnsafePointer<Float> { UnsafePointer(valueBlocks[l] + h * headDim * count) }
}
