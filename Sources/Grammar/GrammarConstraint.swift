import Engine
import Foundation

/// Collects the time each mask application took (shared by reference so a caller can read it after decoding).
public final class MaskTimings: @unchecked Sendable {
    private let lock = NSLock()
    private var nanos: [UInt64] = []
    public init() {}
    func add(_ ns: UInt64) {
        lock.lock()
        nanos.append(ns)
        lock.unlock()
    }
    /// Every recorded duration, in nanoseconds.
    public var samples: [UInt64] {
        lock.lock()
        defer { lock.unlock() }
        return nanos
    }
}

/// A logits processor that keeps decoding inside the grammar: tokens that cannot follow
/// get -inf, end-of-text only where the program is complete, and near the end of the
/// token budget only the tokens that close what is open.
public struct GrammarConstraint: LogitsProcessor, Sendable {
    public let engine: GrammarEngine
    public private(set) var state: GrammarState
    /// Tokens this request may still generate (nil: no budget-aware closing).
    public private(set) var remaining: Int?
    /// Steps on which only closing tokens were allowed.
    public private(set) var closingSteps = 0
    /// The last mask allowed only closing tokens.
    public private(set) var isClosing = false
    /// Sampled tokens the grammar did not accept (zero unless the mask was bypassed).
    public private(set) var violations = 0
    public var timings: MaskTimings?
    private var openedScope: Bool
    private var scratch: [UInt64]

    /// Starts after `prefix` (the prompt's code), which must itself be valid so far.
    /// - Throws: `GrammarError` when the prefix already breaks the grammar.
    public init(engine: GrammarEngine, prefix: String = "", maxTokens: Int? = nil) throws {
        self.engine = engine
        var s = GrammarState(engine.grammar)
        let bytes = Array(prefix.utf8)
        let ok = s.acceptedPrefix(bytes, engine.grammar)
        guard ok == bytes.count else {
            let before = String(decoding: bytes[..<ok], as: UTF8.self)
            let line = before.split(separator: "\n", omittingEmptySubsequences: false).count
            throw GrammarError(.syntax, "the prompt leaves the grammar at line \(line), byte \(ok): \(String(decoding: bytes[ok...].prefix(20), as: UTF8.self).debugDescription)")
        }
        s.feed(bytes, engine.grammar)
        state = s
        remaining = maxTokens
        openedScope = s.depth > 1
        scratch = [UInt64](repeating: 0, count: engine.words)
    }

    /// The program is complete and something opened has been closed (so generation can stop).
    public var isComplete: Bool { openedScope && state.canEnd(engine.grammar) }

    public mutating func process(logits: UnsafeMutableBufferPointer<Float>) {
        let start = DispatchTime.now().uptimeNanoseconds
        defer { timings?.add(DispatchTime.now().uptimeNanoseconds - start) }
        var m = engine.mask(top: state.top, lex: state.lex)
        if m.dependent.count > 256, state.depth >= 2 {
            let f = state.frames
            m = engine.mask(below: f[f.count - 2], top: f[f.count - 1], lex: state.lex)
        }
        let words = engine.words
        scratch.withUnsafeMutableBufferPointer { bits in
            m.allowed.withUnsafeBufferPointer { src in
                for w in 0..<words { bits[w] = src[w] }
            }
            for d in m.dependent where engine.accepts(token: Int(d), in: state) {
                bits[Int(d) >> 6] |= 1 << UInt64(d & 63)
            }
        }
        let canEnd = state.canEnd(engine.grammar)
        isClosing = false
        if let r = remaining, r <= engine.closingBound(state) || canEnd && r <= 2, applyClosing(remaining: r, canEnd: canEnd) {
            closingSteps += 1
            isClosing = true
        }
        var any = false
        let ends = engine.endTokens
        var saved: [(Int, Float)] = []
        if canEnd { for e in ends where e < logits.count { saved.append((e, logits[e])) } }
        scratch.withUnsafeBufferPointer { bits in
            let n = logits.count
            let base = logits.baseAddress!
            for w in 0..<min(words, (n + 63) / 64) {
                let m = bits[w]
                if m == ~0 { any = true; continue }
                let lo = w << 6
                let hi = min(lo + 64, n)
                if m == 0 {
                    for i in lo..<hi { base[i] = -.infinity }
                    continue
                }
                any = true
                var zeros = ~m
                while zeros != 0 {
                    let b = zeros.trailingZeroBitCount
                    if lo + b < hi { base[lo + b] = -.infinity }
                    zeros &= zeros - 1
                }
            }
        }
        for (e, v) in saved { logits[e] = v }
        // Never leave nothing to sample: fall back to ending the text.
        if !any && saved.isEmpty { for e in ends where e < logits.count { logits[e] = 0 } }
    }

    /// Tokens beyond the closing's own length at which closing starts.
    static let closingMargin = 6

    /// Narrows the mask to tokens that spell the closing text, when the budget leaves no room for more.
    /// - Returns: whether closing applied.
    private mutating func applyClosing(remaining r: Int, canEnd: Bool) -> Bool {
        guard let text = engine.closingText(from: state) else { return false }
        let need = text.isEmpty ? 0 : engine.tokenCount(text)
        // A margin, so a step where no closing can be computed (mid-token) does not lose the window.
        guard r <= need + Self.closingMargin else { return false }
        var keep = [UInt64](repeating: 0, count: engine.words)
        if !text.isEmpty {
            let prefixes = engine.prefixTokens(text)
            // A token must leave a closing that still fits (a prefix of the text may read differently, `e` as a name)
            // and is shorter: inside a heredoc a line break leaves the same closing, and could repeat until the budget is gone.
            var chosen = prefixes.filter { p in
                var after = state
                guard after.feed(engine.trie.tokenBytes[p.token], engine.grammar), let rest = engine.closingText(from: after) else { return false }
                return 1 + (rest.isEmpty ? 0 : engine.tokenCount(rest)) <= min(r, max(need, 1))
            }
            if chosen.isEmpty, let longest = prefixes.last { chosen = [longest] }
            for (t, _) in chosen { keep[t >> 6] |= 1 << UInt64(t & 63) }
        }
        for w in 0..<engine.words { scratch[w] &= keep[w] }
        return true
    }

    public mutating func didSample(token: Int) {
        if let r = remaining { remaining = r - 1 }
        if engine.endTokens.contains(token) { return }
        let bytes = engine.trie.tokenBytes[token]
        if bytes.isEmpty || !state.feed(bytes, engine.grammar) { violations += 1; return }
        if state.depth > 1 { openedScope = true }
    }
}

/// Follows the text through the grammar without masking anything, so an unconstrained
/// generation gets the same stop rule (stop where the program is complete) as a constrained one.
public struct GrammarObserver: LogitsProcessor, Sendable {
    public let engine: GrammarEngine
    public private(set) var state: GrammarState
    /// The text left the grammar; from then on it is never complete.
    public private(set) var derailed = false
    private var openedScope: Bool

    public init(engine: GrammarEngine, prefix: String) {
        self.engine = engine
        var s = GrammarState(engine.grammar)
        derailed = !s.feed(Array(prefix.utf8), engine.grammar)
        state = s
        openedScope = s.depth > 1
    }

    public var isComplete: Bool { !derailed && openedScope && state.canEnd(engine.grammar) }

    public mutating func process(logits: UnsafeMutableBufferPointer<Float>) {}

    public mutating func didSample(token: Int) {
        guard !derailed, !engine.endTokens.contains(token) else { return }
        if !state.feed(engine.trie.tokenBytes[token], engine.grammar) { derailed = true }
        if state.depth > 1 { openedScope = true }
    }
}
