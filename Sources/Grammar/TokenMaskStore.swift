import Foundation

/// The tokens that can follow one (parser state, lexer state) pair, whatever lies below on the stack.
public final class TokenMask: Sendable {
    /// Bit `id` set: the token is valid in this state regardless of the frames below.
    public let allowed: [UInt64]
    /// Tokens that close the current scope and go on: valid or not depending on the frames below.
    public let dependent: [Int32]
    init(allowed: [UInt64], dependent: [Int32]) {
        self.allowed = allowed
        self.dependent = dependent
    }
}

/// A compiled grammar bound to a vocabulary: the token masks (computed once per state
/// pair and shared by every request), the vocabulary trie and the closing logic.
///
/// Thread-safe: the mask table is guarded by a lock; everything else is immutable.
public final class GrammarEngine: @unchecked Sendable {
    public let grammar: CompiledGrammar
    let trie: VocabularyTrie
    public let vocabularySize: Int
    public let endTokens: [Int]
    let words: Int
    private let lock = NSLock()
    private var masks: [Int64: TokenMask] = [:]
    /// Seconds spent building masks (each pair once).
    public private(set) var buildSeconds: Double = 0

    /// - Parameters:
    ///   - tokenBytes: every token's bytes (empty for control tokens, which are never allowed).
    ///   - endTokens: end-of-text tokens, allowed only where the program is complete.
    public init(grammar: CompiledGrammar, tokenBytes: [[UInt8]], endTokens: [Int]) {
        self.grammar = grammar
        trie = VocabularyTrie(tokenBytes: tokenBytes)
        vocabularySize = tokenBytes.count
        self.endTokens = endTokens
        words = (tokenBytes.count + 63) / 64
    }

    /// Mask pairs built so far.
    public var cachedMaskCount: Int {
        lock.lock()
        defer { lock.unlock() }
        return masks.count + deepMasks.count
    }

    /// The mask for a state pair, built on first use.
    /// - Complexity: a walk of the vocabulary trie the first time (about a millisecond), a lookup after.
    public func mask(top: Int32, lex: Int32) -> TokenMask {
        let key = Int64(top) << 32 | Int64(lex)
        lock.lock()
        if let m = masks[key] { lock.unlock(); return m }
        lock.unlock()
        let start = DispatchTime.now().uptimeNanoseconds
        let m = build(top: top, lex: lex)
        lock.lock()
        masks[key] = m
        buildSeconds += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        lock.unlock()
        return m
    }

    /// Builds masks for the pairs at the start of each parser state (the most common ones).
    public func warm(states: [Int32]? = nil) {
        for q in states ?? (0..<Int32(grammar.stateCount)).map({ $0 }) { _ = mask(top: q, lex: grammar.lexStart[Int(q)]) }
    }

    /// Where `persistMasks()` keeps the masks built so far, and how many were read from there.
    var maskFile: URL?
    private var loadedMaskCount = 0

    /// Reads masks an earlier process built (a missing or unreadable file is ignored: they are rebuilt on use).
    /// - Returns: the number of masks read.
    @discardableResult
    public func loadMasks(from file: URL) -> Int {
        maskFile = file
        guard let data = try? Data(contentsOf: file, options: .mappedIfSafe), let entries = MaskFile.decode(data, words: words) else { return 0 }
        lock.lock()
        defer { lock.unlock() }
        for e in entries {
            if e.below < 0 { masks[Int64(e.top) << 32 | Int64(e.lex)] = e.mask } else { deepMasks[DeepKey(below: e.below, top: e.top, lex: e.lex)] = e.mask }
        }
        loadedMaskCount = masks.count + deepMasks.count
        return loadedMaskCount
    }

    /// Writes every mask built so far to the file given to `loadMasks(from:)`, when there are new ones,
    /// so the next process starts with them instead of a trie walk per state pair.
    public func persistMasks() {
        guard let file = maskFile else { return }
        lock.lock()
        let entries = masks.map { MaskFile.Entry(below: -1, top: Int32($0.key >> 32), lex: Int32(truncatingIfNeeded: $0.key), mask: $0.value) }
            + deepMasks.map { MaskFile.Entry(below: $0.key.below, top: $0.key.top, lex: $0.key.lex, mask: $0.value) }
        let grown = entries.count > loadedMaskCount
        lock.unlock()
        guard grown else { return }
        try? FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        // A temporary name first, so a concurrent reader never sees half a file.
        let tmp = file.appendingPathExtension("tmp\(ProcessInfo.processInfo.processIdentifier)")
        guard (try? MaskFile.encode(entries, words: words).write(to: tmp)) != nil else { return }
        if rename(tmp.path, file.path) != 0 { try? FileManager.default.removeItem(at: tmp) }
    }

    private struct DeepKey: Hashable { let below: Int32, top: Int32, lex: Int32 }
    private var deepMasks: [DeepKey: TokenMask] = [:]

    /// The mask for a state pair with the frame below known too: where the pending token closes
    /// the current scope (`end`, a closing quote), nearly every token depends on that frame.
    public func mask(below: Int32, top: Int32, lex: Int32) -> TokenMask {
        let key = DeepKey(below: below, top: top, lex: lex)
        lock.lock()
        if let m = deepMasks[key] { lock.unlock(); return m }
        lock.unlock()
        let start = DispatchTime.now().uptimeNanoseconds
        let m = build(frames: [below, top], lex: lex)
        lock.lock()
        deepMasks[key] = m
        buildSeconds += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        lock.unlock()
        return m
    }

    private func build(top: Int32, lex: Int32) -> TokenMask { build(frames: [top], lex: lex) }

    private func build(frames: [Int32], lex: Int32) -> TokenMask {
        let g = grammar
        var allowed = [UInt64](repeating: 0, count: words)
        var dependent: [Int32] = []
        let t = trie
        func addTokens(_ node: Int32, to bits: inout [UInt64]) {
            var id = t.tokenAt[Int(node)]
            while id >= 0 { bits[Int(id) >> 6] |= 1 << UInt64(id & 63); id = t.tokenNext[Int(id)] }
        }
        func addDependent(_ from: Int32, _ end: Int32) {
            var n = from
            while n < end {
                var id = t.tokenAt[Int(n)]
                while id >= 0 { dependent.append(id); id = t.tokenNext[Int(id)] }
                n += 1
            }
        }
        var work: [(Int32, FixedStack, Int32)] = []
        var c = t.firstChild[0]
        let initial = FixedStack(frames)
        while c >= 0 { work.append((c, initial, lex)); c = t.nextSibling[Int(c)] }
        while let (node, st, lx) = work.popLast() {
            var s = st, l = lx
            switch g.feed(t.byte[Int(node)], lex: &l, stack: &s) {
            case .reject:
                continue
            case .escapedBefore:
                addDependent(node, t.subtreeEnd[Int(node)])
            case .escaped:
                addTokens(node, to: &allowed)
                addDependent(node + 1, t.subtreeEnd[Int(node)])
            case .ok:
                addTokens(node, to: &allowed)
                var ch = t.firstChild[Int(node)]
                while ch >= 0 { work.append((ch, s, l)); ch = t.nextSibling[Int(ch)] }
            }
        }
        return TokenMask(allowed: allowed, dependent: dependent)
    }

    /// Whether a token's bytes can follow `state` (the full check, with the real stack).
    public func accepts(token: Int, in state: GrammarState) -> Bool {
        let bytes = trie.tokenBytes[token]
        guard !bytes.isEmpty else { return false }
        let g = grammar
        var s = FixedStack(state.frames)
        var l = state.lex
        for b in bytes {
            let r = g.feed(b, lex: &l, stack: &s)
            if r == .ok { continue }
            if r == .reject { return false }
            // Deeper than the fixed stack reaches: check on the real one.
            var copy = state
            return copy.feed(bytes, g)
        }
        return true
    }

    private var closings: [GrammarState: [UInt8]?] = [:]

    /// Bytes that close every open construct from `state` by a shortest path, or nil if none is found.
    /// Remembered per state: the last tokens of many requests pass through the same states.
    public func closingText(from state: GrammarState) -> [UInt8]? {
        lock.lock()
        if let hit = closings[state] { lock.unlock(); return hit }
        lock.unlock()
        let text = computeClosingText(from: state)
        lock.lock()
        if closings.count > 50_000 { closings.removeAll(keepingCapacity: true) }
        closings[state] = text
        lock.unlock()
        return text
    }

    private func computeClosingText(from state: GrammarState) -> [UInt8]? {
        let g = grammar
        var cur = state
        var out: [UInt8] = []
        if cur.lex != g.lexStart[Int(cur.top)] {
            guard let suffix = pendingCompletion(cur), cur.feed(suffix, g) else { return nil }
            out += suffix
        }
        for _ in 0..<512 {
            guard let f = cur.flushed(g) else { return nil }
            if f.depth == 1 && g.isAccepting(f.top) { return out }
            let t = g.closeNext[Int(f.top)]
            guard t >= 0 else { return nil }
            var attempts: [[Int32]] = [[t]]
            // A separator first, where the closing terminal would otherwise merge with the token before it.
            let separators = g.viableTerminals(f.top).filter { s in
                let sample = g.terminalSamples[s]
                return !sample.isEmpty && sample.count <= 2 && sample.allSatisfy { $0 == 10 || $0 == 32 }
            }.sorted { g.terminalSamples[$0].first! < g.terminalSamples[$1].first! }
            attempts += separators.map { [Int32($0), t] }
            var advanced = false
            for seq in attempts {
                var expected = f.stack
                var ok = true
                for x in seq where g.emit(x, &expected) != .ok { ok = false; break }
                guard ok else { continue }
                var trial = cur
                let bytes = seq.flatMap { g.terminalSamples[Int($0)] }
                guard trial.feed(bytes, g), let tf = trial.flushed(g), tf.stack.items == expected.items else { continue }
                cur = trial
                out += bytes
                advanced = true
                break
            }
            if !advanced { return nil }
        }
        return nil
    }

    /// The shortest printable bytes that finish the pending token as a terminal the parser can take.
    func pendingCompletion(_ state: GrammarState) -> [UInt8]? {
        let g = grammar
        let q = Int(state.top)
        var seen: Set<Int32> = [state.lex]
        var queue: [(Int32, [UInt8])] = [(state.lex, [])]
        var head = 0
        let alphabet: [UInt8] = [10, 32] + Array(33...126)
        while head < queue.count, head < 256 {
            let (l, bytes) = queue[head]
            head += 1
            let t = g.lexAccept[Int(l)]
            if t >= 0, g.actNext[q * g.terminalCount + Int(t)] >= 0, state.flushedAfter(bytes, g) { return bytes }
            if bytes.count >= 12 { continue }
            for b in alphabet {
                let n = g.lexTrans[Int(l) << 8 | Int(b)]
                if n >= 0, seen.insert(n).inserted { queue.append((n, bytes + [b])) }
            }
        }
        return nil
    }

    /// A cheap upper bound on the closing text's length in bytes.
    func closingBound(_ state: GrammarState) -> Int {
        // closeDist counts 4 per byte (plus a tie-breaking taste), and a token is at least a byte.
        var n = state.depth + 4
        for q in state.frames {
            let d = grammar.closeDist[Int(q)]
            n += d == Int32.max ? 64 : Int(d) / 4 + 1
        }
        return n
    }

    /// Tokens needed to spell `text` greedily.
    public func tokenCount(_ text: [UInt8]) -> Int { trie.greedyCount(text[...]) }

    /// Tokens that spell a prefix of `text`, with their lengths.
    func prefixTokens(_ text: [UInt8]) -> [(token: Int, length: Int)] { trie.prefixes(of: text[...]) }
}

/// The on-disk form of built masks: a tag, the word count, then per mask its key, its dependent
/// tokens and its bitset, little-endian.
enum MaskFile {
    struct Entry {
        let below: Int32, top: Int32, lex: Int32
        let mask: TokenMask
    }

    private static let magic = Array("ECMASK01".utf8)

    static func encode(_ entries: [Entry], words: Int) -> Data {
        var d = Data(magic)
        func i32(_ v: Int32) { var x = v.littleEndian; withUnsafeBytes(of: &x) { d.append(contentsOf: $0) } }
        i32(Int32(words))
        i32(Int32(entries.count))
        for e in entries {
            i32(e.below); i32(e.top); i32(e.lex)
            i32(Int32(e.mask.dependent.count))
            e.mask.dependent.withUnsafeBytes { d.append(contentsOf: $0) }
            e.mask.allowed.withUnsafeBytes { d.append(contentsOf: $0) }
        }
        return d
    }

    /// nil when the data is not a mask file for this vocabulary size.
    static func decode(_ d: Data, words: Int) -> [Entry]? {
        d.withUnsafeBytes { raw -> [Entry]? in
            var i = 0
            func i32() -> Int32? {
                guard i + 4 <= raw.count else { return nil }
                defer { i += 4 }
                return Int32(littleEndian: raw.loadUnaligned(fromByteOffset: i, as: Int32.self))
            }
            guard raw.count >= 8, Array(raw[0..<8]) == magic else { return nil }
            i = 8
            guard let w = i32(), Int(w) == words, let n = i32(), n >= 0 else { return nil }
            var out: [Entry] = []
            out.reserveCapacity(Int(n))
            for _ in 0..<n {
                guard let below = i32(), let top = i32(), let lex = i32(), let k = i32(), k >= 0,
                      i + 4 * Int(k) + 8 * words <= raw.count else { return nil }
                let dependent = (0..<Int(k)).map { Int32(littleEndian: raw.loadUnaligned(fromByteOffset: i + 4 * $0, as: Int32.self)) }
                i += 4 * Int(k)
                let allowed = (0..<words).map { UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: i + 8 * $0, as: UInt64.self)) }
                i += 8 * words
                out.append(Entry(below: below, top: top, lex: lex, mask: TokenMask(allowed: allowed, dependent: dependent)))
            }
            return out
        }
    }
}
