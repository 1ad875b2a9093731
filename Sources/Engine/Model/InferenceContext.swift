import CKernels
import Foundation

/// One token in a forward pass: which sequence it extends, and where.
public struct BatchRow {
    public let sequence: KVSequence
    public let token: Int
    public let position: Int
    /// Whether the caller needs the logits after this token.
    public let wantsLogits: Bool

    public init(sequence: KVSequence, token: Int, position: Int, wantsLogits: Bool) {
        self.sequence = sequence
        self.token = token
        self.position = position
        self.wantsLogits = wantsLogits
    }
}

/// Runs forward passes of a model over batches of rows from any mix of sequences.
///
/// Owns its scratch buffers, so one context is used by one task at a time (the
/// batching loop that owns it); several contexts can share one `LlamaModel`.
public final class InferenceContext {
    public let model: LlamaModel
    public var threads: Int { pool.threads }
    public let kernels: KernelMode
    /// The instruction set whose kernels this context runs.
    public let instructionSet: InstructionSet
    /// The C attention kernels, where the instruction set has them.
    private let tiles: AttentionTiles?
    /// Per-stage timings of the forward passes, when a benchmark asks for them.
    public var profile: ForwardProfile?
    private let panels: IntegerPanels.Kernel?
    private let vectorKernels: Bool
    private let pool: WorkerPool
    private var capacity = 0
    private var x, xn, q, k, v, att, o, gate, up: UnsafeMutablePointer<Float>
    private var qEmbed: QuantizedActivations
    private var qFFN: QuantizedActivations
    private var logitsBuffer: UnsafeMutablePointer<Float>
    private var logitsCapacity = 0
    /// Below this many shared cache positions, attention goes key by key: converting and
    /// tiling them costs more than it saves. (Tests raise it to compare the two paths.)
    var tiledAttentionMinimum = 32
    /// Whether shared-range tiles run in the C kernels (512- or 256-bit lanes) where the CPU has them;
    /// they give the Swift tiles' bits. (Tests turn it off to compare the two.)
    var wideTiles: Bool
    /// Whether each row's positions past the shared range go through the C kernels too
    /// (they sum in another order than the Swift loop). (Tests turn it off to compare.)
    var wideKeyByKey: Bool

    /// `instructionSet` must be one the CPU runs (`InstructionSet.requested` checks that).
    public init(model: LlamaModel, threads: Int = ProcessInfo.processInfo.activeProcessorCount, kernels: KernelMode = .fast,
                instructionSet: InstructionSet = .host) {
        precondition(instructionSet <= .host, "this CPU does not run \(instructionSet.rawValue)")
        self.model = model
        self.kernels = kernels
        self.instructionSet = instructionSet
        panels = instructionSet.panelKernel
        vectorKernels = instructionSet >= .avx2
        tiles = AttentionTiles(instructionSet)
        wideTiles = tiles != nil
        wideKeyByKey = tiles != nil
        pool = WorkerPool(threads: threads)
        x = .allocate(capacity: 1); xn = .allocate(capacity: 1); q = .allocate(capacity: 1)
        k = .allocate(capacity: 1); v = .allocate(capacity: 1); att = .allocate(capacity: 1)
        o = .allocate(capacity: 1); gate = .allocate(capacity: 1); up = .allocate(capacity: 1)
        qEmbed = QuantizedActivations(rows: 1, cols: model.config.embeddingLength)
        qFFN = QuantizedActivations(rows: 1, cols: model.config.feedForwardLength)
        logitsBuffer = .allocate(capacity: 1)
        ensure(rows: 16)
    }

    deinit {
        [x, xn, q, k, v, att, o, gate, up, logitsBuffer].forEach { $0.deallocate() }
    }

    private func ensure(rows: Int) {
        guard rows > capacity else { return }
        let c = model.config
        [x, xn, q, k, v, att, o, gate, up].forEach { $0.deallocate() }
        x = .allocate(capacity: rows * c.embeddingLength)
        xn = .allocate(capacity: rows * c.embeddingLength)
        q = .allocate(capacity: rows * c.embeddingLength)
        k = .allocate(capacity: rows * c.kvDimension)
        v = .allocate(capacity: rows * c.kvDimension)
        att = .allocate(capacity: rows * c.embeddingLength)
        o = .allocate(capacity: rows * c.embeddingLength)
        gate = .allocate(capacity: rows * c.feedForwardLength)
        up = .allocate(capacity: rows * c.feedForwardLength)
        qEmbed = QuantizedActivations(rows: rows, cols: c.embeddingLength)
        qFFN = QuantizedActivations(rows: rows, cols: c.feedForwardLength)
        capacity = rows
    }

    /// The residual stream of the last forward pass's rows, `embeddingLength` apart, after the
    /// last layer: what `TextEmbedder` pools. Valid until the next call.
    var hiddenStates: UnsafePointer<Float> { UnsafePointer(x) }

    /// Runs `body(i)` once for every i in `0..<count` on this context's threads: per-row work
    /// between forward passes (sampling) without waking other threads while these spin.
    func shareOut(_ count: Int, _ body: (Int) -> Void) {
        pool.dynamic(count, body)
    }

    /// Runs the rows through the model, caching their keys and values.
    ///
    /// Rows of one sequence must come in position order and continue its cache.
    /// - Returns: logits for each row with `wantsLogits`, in row order, `vocabularySize` apart.
    ///   Valid until the next call.
    public func forward(_ rows: [BatchRow]) -> UnsafeBufferPointer<Float> {
        let c = model.config
        let n = rows.count
        precondition(n > 0, "forward needs at least one row")
        ensure(rows: n)
        let e = c.embeddingLength, kvd = c.kvDimension, ff = c.feedForwardLength, hd = c.headDimension
        profile?.count(rows: n)
        // One nil check per stage when nobody profiles.
        func stage<T>(_ s: ForwardProfile.Stage, _ body: () -> T) -> T {
            guard let profile else { return body() }
            return profile.time(s, body)
        }
        stage(.embedding) {
            for (i, r) in rows.enumerated() {
                precondition(r.token >= 0 && r.token < c.vocabularySize, "token \(r.token) outside the vocabulary")
                model.tokenEmbedding.dequantizeRow(r.token, into: x + i * e)
                r.sequence.reserve(upTo: r.position + 1)
            }
        }
        // RoPE angles per row, computed once for all layers.
        let half = hd / 2
        let cosT = UnsafeMutablePointer<Float>.allocate(capacity: n * half)
        let sinT = UnsafeMutablePointer<Float>.allocate(capacity: n * half)
        defer { cosT.deallocate(); sinT.deallocate() }
        for (i, r) in rows.enumerated() {
            // Repeated multiplication rather than powf, the way ggml's rope forms the angles.
            var theta = Float(r.position)
            for j in 0..<half {
                cosT[i * half + j] = cosf(theta)
                sinT[i * half + j] = sinf(theta)
                theta *= model.thetaScale
            }
        }
        let segments = rows.map { $0.sequence.segments(upTo: $0.position + 1) }
        // Which rows read cache positions together is the same in every layer.
        let pieces = kernels == .exact ? [] : attentionPieces(segments)
        buildMirrors(segments, pieces)

        let eBlocks = e / 32, ffBlocks = ff / 32
        for (l, layer) in model.layers.enumerated() {
            stage(.normalize) { normalizeAndQuantize(n, layer.attnNorm) }
            stage(.qkv) { run([(layer.wq, q), (layer.wk, k), (layer.wv, v)], qEmbed, xn, n) }
            // Rows write their own cache positions: shared out, so no thread waits on the rest.
            stage(.ropeAndCache) {
                shareRows(n, n) { range in
                    for i in range {
                        let r = rows[i]
                        rope(q + i * e, heads: c.headCount, headDim: hd, cos: cosT + i * half, sin: sinT + i * half)
                        rope(k + i * kvd, heads: c.kvHeadCount, headDim: hd, cos: cosT + i * half, sin: sinT + i * half)
                        r.sequence.storeKey(l, r.position, k + i * kvd)
                        let vp = r.sequence.value(l, r.position)
                        for j in 0..<kvd { vp[j] = Float16(v[i * kvd + j]) }
                    }
                }
            }
            stage(.attention) {
                if kernels == .exact {
                    attention(layer: l, rows: rows, segments: segments)
                } else {
                    groupedAttention(layer: l, rows: rows, segments: segments, pieces: pieces)
                }
            }
            stage(.quantize) { shareRows(n, n * eBlocks) { qEmbed.quantize(att, blocks: $0, vectorKernel: vectorKernels) } }
            stage(.outputProjection) { run([(layer.wo, o)], qEmbed, att, n) }
            stage(.residual) { for i in 0..<(n * e) { x[i] += o[i] } }

            stage(.normalize) { normalizeAndQuantize(n, layer.ffnNorm) }
            stage(.gateUp) { run([(layer.gate, gate), (layer.up, up)], qEmbed, xn, n) }
            // The activation is thousands of exponentials per row: worth sharing even for one row.
            stage(.activation) {
                pool.chunks(n * ffBlocks) { blocks in
                    swiglu(gate + blocks.lowerBound * 32, up + blocks.lowerBound * 32, blocks.count * 32)
                    qFFN.quantize(gate, blocks: blocks, vectorKernel: vectorKernels)
                }
            }
            stage(.down) { run([(layer.down, o)], qFFN, gate, n) }
            stage(.residual) { for i in 0..<(n * e) { x[i] += o[i] } }
        }
        for r in rows { r.sequence.commit(length: r.position + 1) }

        // Only rows that need logits pay for the vocabulary-sized head.
        let wanted = rows.indices.filter { rows[$0].wantsLogits }
        guard !wanted.isEmpty else { return UnsafeBufferPointer(start: logitsBuffer, count: 0) }
        let need = wanted.count * c.vocabularySize
        if need > logitsCapacity {
            logitsBuffer.deallocate()
            logitsBuffer = .allocate(capacity: need)
            logitsCapacity = need
        }
        stage(.head) {
            for (j, i) in wanted.enumerated() { rmsNorm(x + i * e, model.outputNorm, xn + j * e, e, eps: c.rmsEpsilon) }
            qEmbed.quantize(xn, blocks: 0..<(wanted.count * e / 32), vectorKernel: vectorKernels)
            run([(model.output, logitsBuffer)], qEmbed, xn, wanted.count)
        }
        return UnsafeBufferPointer(start: logitsBuffer, count: need)
    }

    /// RMSNorm of each row of `x` into `xn`, quantized into `qEmbed`.
    private func normalizeAndQuantize(_ n: Int, _ weight: UnsafePointer<Float>) {
        let e = model.config.embeddingLength, eps = model.config.rmsEpsilon
        shareRows(n, n) { rows in
            for i in rows { rmsNorm(x + i * e, weight, xn + i * e, e, eps: eps) }
            qEmbed.quantize(xn, blocks: (rows.lowerBound * e / 32)..<(rows.upperBound * e / 32), vectorKernel: vectorKernels)
        }
    }

    /// Splits `count` items over the pool when there are several rows; one row's worth is
    /// shorter than a dispatch.
    private func shareRows(_ rows: Int, _ count: Int, _ body: (Range<Int>) -> Void) {
        if rows >= 2 { pool.chunks(count, body) } else { body(0..<count) }
    }

    /// Several matmuls over the same input in one parallel dispatch, in pieces of whole panels
    /// that the threads take as they get free. A piece is a few microseconds of work: sixteen
    /// panels for one or two rows, where more pieces cost more in handing them out
    /// (single-sequence decode: 92 tok/s with four, 102 with sixteen); eight for a decode
    /// batch, so a thread streams the weights in long runs (batches of ten and sixteen 2-8%
    /// faster than with four, taken in turn in one process); four for a prefill chunk, where
    /// each panel is more work and a long last piece would keep the other thread waiting.
    private func run(_ jobs: [(WeightMatrix, UnsafeMutablePointer<Float>)], _ xq: QuantizedActivations, _ xf: UnsafePointer<Float>, _ batch: Int) {
        let grain = (batch >= 32 ? 4 : batch >= panelMinimumBatch ? 8 : 16) * Panels.rows
        var pieces: [(job: Int, rows: Range<Int>)] = []
        for (j, (w, _)) in jobs.enumerated() {
            for lo in stride(from: 0, to: w.rows, by: grain) { pieces.append((j, lo..<min(w.rows, lo + grain))) }
        }
        pool.dynamic(pieces.count) { i in
            let (w, out) = jobs[pieces[i].job]
            matmul(w, xq, xf, batch: batch, into: out, rowRange: pieces[i].rows, kernels: kernels, panels: panels)
        }
    }

    /// Causal grouped-query attention for every (row, head), reading each row's cache segments.
    ///
    /// Online softmax with an fp16 query and output accumulator, fused multiply-adds and
    /// dot products summed in the same order as llama.cpp's CPU flash attention.
    private func attention(layer l: Int, rows: [BatchRow], segments: [[(KVSequence, Range<Int>)]]) {
        let c = model.config
        let e = c.embeddingLength, hd = c.headDimension
        let group = c.headCount / c.kvHeadCount
        let scale = 1 / Float(hd).squareRoot()
        let tasks = rows.count * c.headCount
        pool.chunks(tasks) { range in
            let qh = UnsafeMutablePointer<Float>.allocate(capacity: hd)
            let acc = UnsafeMutablePointer<Float16>.allocate(capacity: hd)
            defer { qh.deallocate(); acc.deallocate() }
            for task in range {
                let i = task / c.headCount, h = task % c.headCount
                let qv = q + i * e + h * hd
                for j in 0..<hd { qh[j] = Float(Float16(qv[j])) }
                let kvOff = (h / group) * hd
                var m = -Float.infinity, sum: Float = 0
                acc.initialize(repeating: 0, count: hd)
                for (seq, span) in segments[i] {
                    for p in span {
                        let s = dotHalf(qh, seq.key(l, p) + kvOff, hd) * scale
                        var vs: Float = 1, ms: Float = 1
                        if s > m {
                            ms = expf(m - s)
                            m = s
                            for j in 0..<hd { acc[j] = Float16(Float(acc[j]) * ms) }
                        } else {
                            vs = expf(s - m)
                        }
                        let vv = seq.value(l, p) + kvOff
                        for j in 0..<hd { acc[j] = Float16(Float(acc[j]).addingProduct(Float(vv[j]), vs)) }
                        sum = vs.addingProduct(sum, ms)
                    }
                }
                let out = att + i * e + h * hd
                let inv = 1 / sum
                for j in 0..<hd { out[j] = Float(acc[j]) * inv }
            }
        }
    }

    /// Fast attention: the query heads that share a KV head are done together, two-pass
    /// softmax in fp32. Rows that read the same cache sequence from position 0 (a batch's
    /// shared prompt, or a prompt being prefilled) convert those keys and values once and
    /// score them in register tiles; the rest of each row's positions go one key at a time.
    private func groupedAttention(layer l: Int, rows: [BatchRow], segments: [[(KVSequence, Range<Int>)]], pieces: [(rows: [Int], shared: Int)]) {
        let c = model.config
        let e = c.embeddingLength, hd = c.headDimension, kvHeads = c.kvHeadCount
        let group = c.headCount / kvHeads
        let scale = 1 / Float(hd).squareRoot()
        // Room past the longest row for a tile's padding keys.
        let stride = rows.map { $0.position + 1 }.max()! + 16
        let largest = pieces.map(\.rows.count).max()!
        let widest = pieces.map(\.shared).max()! + 16
        let wide = widensInRegisters
        let wideOwn = wideShapes && wideKeyByKey
        let kvDim = c.kvDimension
        let pieceRows = pieces.map { $0.rows.map(Int32.init) }
        // Tasks go to whichever thread is free: rows' own positions differ in length.
        pool.pulling(pieces.count * kvHeads) { next in
            let scores = UnsafeMutablePointer<Float>.allocate(capacity: largest * group * stride)
            let kf = UnsafeMutablePointer<Float>.allocate(capacity: hd)
            let accs = UnsafeMutablePointer<Float>.allocate(capacity: largest * group * hd)
            let kt = UnsafeMutablePointer<Float>.allocate(capacity: hd * widest)
            let vf = UnsafeMutablePointer<Float>.allocate(capacity: hd * widest)
            defer { [scores, kf, accs, kt, vf].forEach { $0.deallocate() } }
            while let task = next() {
                let piece = pieces[task / kvHeads], kvh = task % kvHeads
                let kvOff = kvh * hd
                let shared = piece.shared
                let root = segments[piece.rows[0]][0].0
                var values = UnsafePointer(vf)
                if shared > 0 {
                    let tiled = (shared + 15) / 16 * 16
                    if wide {
                        // Lanes past `shared` in the last block are scored too; the row's own
                        // positions and the softmax padding overwrite them.
                        pieceRows[task / kvHeads].withUnsafeBufferPointer {
                            tiles!.scores(q + kvh * group * hd, $0.baseAddress, Int32(piece.rows.count), Int32(e),
                                             root.keyBlock(l, 0, offset: kvOff), Int32(16 * kvDim), Int32(tiled), scale, scores, Int32(stride))
                        }
                    } else {
                        var keys = UnsafePointer(kt)
                        if let m = root.mirror, m.count >= shared {
                            (keys, values) = (m.keys(l, kvh), m.values(l, kvh))
                        } else {
                            transposeKeys({ UnsafePointer(root.key(l, $0) + kvOff) }, count: shared, dim: hd, width: tiled, into: kt)
                            convertValues({ UnsafePointer(root.value(l, $0) + kvOff) }, count: shared, dim: hd, into: vf)
                        }
                        var j = 0
                        while j < piece.rows.count {
                            // Rows in pairs; a lone last row is its own pair.
                            let k = min(j + 1, piece.rows.count - 1)
                            let qa = q + piece.rows[j] * e + kvh * group * hd, qb = q + piece.rows[k] * e + kvh * group * hd
                            for p0 in Swift.stride(from: 0, to: tiled, by: 16) {
                                scoreTile(qa, qb, dim: hd, keys: keys, at: p0, scale: scale,
                                          into: scores + j * group * stride, scores + k * group * stride, stride: stride)
                            }
                            j += 2
                        }
                    }
                }
                for (j, i) in piece.rows.enumerated() {
                    let rowScores = scores + j * group * stride
                    let q0 = q + i * e + kvh * group * hd
                    var n = shared
                    for (seq, span) in segments[i] {
                        if wideOwn {
                            let lo = max(span.lowerBound, shared)
                            guard lo < span.upperBound else { continue }
                            tiles!.ownScores(q0, seq.keyBlock(l, lo, offset: kvOff), Int32(16 * kvDim), Int32((lo - seq.start) % 16),
                                            Int32(span.upperBound - lo), scale, rowScores + n, Int32(stride))
                            n += span.upperBound - lo
                            continue
                        }
                        for p in span where p >= shared {
                            let kp = seq.key(l, p) + kvOff
                            for d in 0..<hd { kf[d] = Float(kp[d]) }
                            for g in 0..<group { rowScores[g * stride + n] = dotF32(q0 + g * hd, kf, hd) * scale }
                            n += 1
                        }
                    }
                    for g in 0..<group { softmax(rowScores + g * stride, count: n, vectorKernel: vectorKernels) }
                }
                // Every row's weights first, so the value tiles can take rows in pairs.
                accs.initialize(repeating: 0, count: piece.rows.count * group * hd)
                if shared > 0 {
                    var j = 0
                    while j < piece.rows.count {
                        let pair = wide ? min(2, piece.rows.count - j) : 1
                        if wide {
                            tiles!.values(scores + j * group * stride, Int32(stride), root.value(l, 0) + kvOff, Int32(kvDim), Int32(shared),
                                             accs + j * group * hd, Int32(pair))
                        } else {
                            valueTile(weights: scores + j * group * stride, stride: stride, values: values, count: shared, dim: hd, into: accs + j * group * hd)
                        }
                        j += pair
                    }
                }
                for (j, i) in piece.rows.enumerated() {
                    let rowScores = scores + j * group * stride
                    let acc = accs + j * group * hd
                    var n = shared
                    for (seq, span) in segments[i] {
                        if wideOwn {
                            let lo = max(span.lowerBound, shared)
                            guard lo < span.upperBound else { continue }
                            tiles!.ownValues(rowScores + n, Int32(stride), seq.value(l, lo) + kvOff, Int32(kvDim), Int32(span.upperBound - lo), acc)
                            n += span.upperBound - lo
                            continue
                        }
                        for p in span where p >= shared {
                            let vp = seq.value(l, p) + kvOff
                            for d in 0..<hd { kf[d] = Float(vp[d]) }
                            for g in 0..<group {
                                let w = rowScores[g * stride + n]
                                let a = acc + g * hd
                                for d in 0..<hd { a[d] += w * kf[d] }
                            }
                            n += 1
                        }
                    }
                    for g in 0..<group {
                        (att + i * e + (kvh * group + g) * hd).update(from: acc + g * hd, count: hd)
                    }
                }
            }
        }
    }

    /// Whether the model's attention has the shape of the C kernels: three query heads of 64 per
    /// KV head.
    private var wideShapes: Bool {
        let c = model.config
        return c.headCount == 3 * c.kvHeadCount && c.headDimension == 64
    }

    /// Whether the shared-range tiles run in C (512- or 256-bit lanes), widening the cache's fp16
    /// entries in registers (no fp32 mirror, no conversion per piece).
    private var widensInRegisters: Bool { wideShapes && wideTiles }

    /// Gives the roots that the Swift tiles read a mirror (the C tiles widen the cache's
    /// fp16 entries themselves). A root this pass does not extend is frozen: its mirror is
    /// built once and kept.
    private func buildMirrors(_ segments: [[(KVSequence, Range<Int>)]], _ pieces: [(rows: [Int], shared: Int)]) {
        guard !widensInRegisters else { return }
        for piece in pieces {
            let root = segments[piece.rows[0]][0].0
            if Self.readsMirror(root, shared: piece.shared) {
                root.buildMirror(heads: model.config.kvHeadCount, headDim: model.config.headDimension, pool: pool)
            }
        }
    }

    /// Whether tiles over a root's first `shared` positions read its fp32 mirror: the root
    /// already holds them all, so this pass does not extend it.
    private static func readsMirror(_ root: KVSequence, shared: Int) -> Bool {
        shared > 0 && shared <= root.length
    }

    /// One layer's fast attention for rows whose keys and values are already cached, from
    /// the given queries (`rows.count` x embedding width), with or without tiles, and with
    /// tiles reading roots' fp32 mirrors or converting their keys: for tests.
    func fastAttention(layer: Int, rows: [BatchRow], queries: [Float], tiled: Bool, mirrored: Bool = false) -> [Float] {
        ensure(rows: rows.count)
        queries.withUnsafeBufferPointer { q.update(from: $0.baseAddress!, count: $0.count) }
        let saved = tiledAttentionMinimum
        if !tiled { tiledAttentionMinimum = .max }
        defer { tiledAttentionMinimum = saved }
        let segments = rows.map { $0.sequence.segments(upTo: $0.position + 1) }
        let pieces = attentionPieces(segments)
        if mirrored { buildMirrors(segments, pieces) }
        groupedAttention(layer: layer, rows: rows, segments: segments, pieces: pieces)
        return Array(UnsafeBufferPointer(start: att, count: rows.count * model.config.embeddingLength))
    }

    /// Splits the rows into pieces of attention work: rows whose cache chain starts with the
    /// same sequence go together, with the positions they all read from it (`shared`, 0 when
    /// too few to tile), in parts small enough that both threads get work for every head.
    private func attentionPieces(_ segments: [[(KVSequence, Range<Int>)]]) -> [(rows: [Int], shared: Int)] {
        let c = model.config
        // The tiles take three query heads per KV head and 32-wide halves of a head.
        let tiles = c.headCount == 3 * c.kvHeadCount && c.headDimension % 32 == 0
        var order: [ObjectIdentifier] = []
        var groups: [ObjectIdentifier: [Int]] = [:]
        for (i, segs) in segments.enumerated() {
            let id = ObjectIdentifier(segs[0].0)
            if groups[id] == nil { order.append(id) }
            groups[id, default: []].append(i)
        }
        var pieces: [(rows: [Int], shared: Int)] = []
        for id in order {
            let members = groups[id]!
            let first = members.map { segments[$0][0].1 }
            // A lone row reads its keys once anyway: tiles would only add the transposition.
            let shared = tiles && members.count >= 2 && first.allSatisfy({ $0.lowerBound == 0 }) ? first.map(\.upperBound).min()! : 0
            let tiled = shared >= tiledAttentionMinimum ? shared : 0
            // Where no piece converts keys (the C tiles widen fp16 in registers; the Swift
            // tiles read a frozen root's fp32 mirror), pieces of one tile's three rows, which the
            // threads share out evenly. Otherwise each piece converts the keys again: halves of
            // large groups.
            let converts = !widensInRegisters && !Self.readsMirror(segments[members[0]][0].0, shared: tiled)
            let size = !converts ? 3 : members.count >= 4 ? (members.count + 1) / 2 : members.count
            for lo in stride(from: 0, to: members.count, by: size) {
                pieces.append((Array(members[lo..<min(lo + size, members.count)]), tiled))
            }
        }
        return pieces
    }
}
