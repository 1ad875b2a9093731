/// A grammar compiled to automata: lexer DFAs for the terminals and a deterministic
/// pushdown machine over terminals for the structure.
///
/// Parser states are global ids across all machines (the start rule and each scope).
/// A step on terminal `t` in state `q` either moves (`actRet < 0`: the top becomes
/// `actNext`) or enters a scope (the top becomes the return state `actRet` and
/// `actNext`, the scope's state after `t`, is pushed). A scope state that is final
/// (accepting, nothing can follow) pops at once. Each parser state has its own lexer,
/// built from the terminals it can take.
public struct CompiledGrammar: Sendable {
    /// Names of terminals: a named terminal's rule name, or a literal's text.
    public var terminalNames: [String]
    /// The shortest text of each terminal (used to close open constructs).
    public var terminalSamples: [[UInt8]]
    public var terminalCount: Int

    public var stateCount: Int
    public var actNext: [Int32]
    public var actRet: [Int32]
    /// Bit 0: accepting; bit 1: final (a scope's state that pops at once).
    public var stateFlags: [UInt8]
    public var lexStart: [Int32]
    /// Shortest closing cost from each state to its machine's end: 4 per byte, plus 0-2 so that ties
    /// prefer a line break, then a space (Int32.max: none).
    public var closeDist: [Int32]
    /// The terminal to take next on that shortest path (-1 at the end).
    public var closeNext: [Int32]
    public var stateMachine: [Int32]
    public var machineNames: [String]
    public var startState: Int32

    public var lexStateCount: Int
    /// `lexTrans[l << 8 | byte]`: next lexer state or -1.
    public var lexTrans: [Int32]
    /// Terminal accepted in a lexer state, or -1.
    public var lexAccept: [Int32]
    /// Whether a lexer state has any outgoing transition (if not, its token is emitted at once).
    public var lexHasOut: [UInt8]
    /// Next byte on a shortest path to an accepting lexer state (-1 where accepting).
    public var lexSuffixNext: [Int16]

    /// Words per terminal bitset.
    public var terminalWords: Int
    /// Per lexer state: the terminals some accepting state reachable from it accepts.
    public var lexReach: [UInt64]
    /// Per parser state: the terminals it can take.
    public var viableBits: [UInt64]

    /// SHA-256 of the grammar text.
    public var grammarHash: String

    /// Whether the token pending in lexer state `l` can still end as a terminal that state `q` takes.
    @inline(__always) func canStillEmit(_ l: Int32, in q: Int32) -> Bool {
        let a = Int(l) * terminalWords, b = Int(q) * terminalWords
        for w in 0..<terminalWords where lexReach[a + w] & viableBits[b + w] != 0 { return true }
        return false
    }

    @inline(__always) func isAccepting(_ q: Int32) -> Bool { stateFlags[Int(q)] & 1 != 0 }
    @inline(__always) func isFinal(_ q: Int32) -> Bool { stateFlags[Int(q)] & 2 != 0 }

    /// Terminals the parser can take in state `q`.
    public func viableTerminals(_ q: Int32) -> [Int] {
        (0..<terminalCount).filter { actNext[Int(q) * terminalCount + $0] >= 0 }
    }

    /// The shortest bytes that finish the token in lexer state `l` (empty when it is complete).
    public func lexSuffix(_ l: Int32) -> [UInt8]? {
        var out: [UInt8] = []
        var cur = l
        while lexAccept[Int(cur)] < 0 {
            let b = lexSuffixNext[Int(cur)]
            guard b >= 0, out.count < 64 else { return nil }
            out.append(UInt8(b))
            cur = lexTrans[Int(cur) << 8 | Int(b)]
        }
        return out
    }
}
