/// The parser stack, for the decoding state (an array) and the mask walker (a fixed vector).
protocol ParseStack {
    var top: Int32 { get set }
    var depth: Int { get }
    /// False when the stack has no room (the walker's fixed vector).
    mutating func push(_ q: Int32) -> Bool
    /// False when the frame below is unknown (the walker started mid-stack).
    mutating func pop() -> Bool
}

/// What stepping a byte or a terminal did.
enum StepResult: UInt8 {
    case ok
    case reject
    /// The walk popped the frame it started in: what follows depends on the frames below.
    case escaped
    /// As `escaped`, but the byte that caused it is not consumed yet.
    case escapedBefore
}

extension CompiledGrammar {
    /// Steps the parser over one terminal, popping finished scopes.
    @inline(__always)
    func emit<S: ParseStack>(_ t: Int32, _ st: inout S) -> StepResult {
        let slot = Int(st.top) * terminalCount + Int(t)
        let next = actNext[slot]
        if next < 0 { return .reject }
        let ret = actRet[slot]
        if ret >= 0 {
            st.top = ret
            if !st.push(next) { return .escaped }
        } else {
            st.top = next
        }
        while stateFlags[Int(st.top)] & 2 != 0 {
            if !st.pop() { return .escaped }
        }
        return .ok
    }

    /// Steps one byte: extends the current token, or emits it (longest match) and starts the next.
    @inline(__always)
    func feed<S: ParseStack>(_ b: UInt8, lex: inout Int32, stack: inout S) -> StepResult {
        var l = lex
        while true {
            let nl = lexTrans[Int(l) << 8 | Int(b)]
            if nl >= 0 {
                if lexHasOut[Int(nl)] != 0 {
                    // A pending token that can only end as something this state cannot take is dead already.
                    if !canStillEmit(nl, in: stack.top) { return .reject }
                    lex = nl
                    return .ok
                }
                // Nothing can extend this token: emit it now, so the next byte sees the new state's lexer.
                let r = emit(lexAccept[Int(nl)], &stack)
                if r != .ok { return r == .escaped ? .escaped : r }
                lex = lexStart[Int(stack.top)]
                return .ok
            }
            if l == lexStart[Int(stack.top)] { return .reject }
            let t = lexAccept[Int(l)]
            if t < 0 { return .reject }
            let r = emit(t, &stack)
            if r == .escaped { return .escapedBefore }
            if r != .ok { return r }
            l = lexStart[Int(stack.top)]
        }
    }
}

/// The array-backed stack of the decoding state.
struct ArrayStack: ParseStack {
    var items: [Int32]
    var top: Int32 {
        get { items[items.count - 1] }
        set { items[items.count - 1] = newValue }
    }
    var depth: Int { items.count }
    mutating func push(_ q: Int32) -> Bool { items.append(q); return true }
    mutating func pop() -> Bool {
        guard items.count > 1 else { return false }
        items.removeLast()
        return true
    }
}

/// A fixed-size stack for walking vocabulary tokens without allocating: the bottom
/// entry is the state the walk started in, whose own frame below is unknown.
struct FixedStack: ParseStack {
    var items = SIMD16<Int32>(repeating: -1)
    var count = 1
    init(top: Int32) { items[0] = top }
    /// The top `min(16, depth)` entries of a real stack; `complete` when that is all of it.
    init(_ stack: [Int32]) {
        let n = min(16, stack.count)
        for k in 0..<n { items[k] = stack[stack.count - n + k] }
        count = n
    }
    var top: Int32 {
        get { items[count - 1] }
        set { items[count - 1] = newValue }
    }
    var depth: Int { count }
    mutating func push(_ q: Int32) -> Bool {
        guard count < 16 else { return false }
        items[count] = q
        count += 1
        return true
    }
    mutating func pop() -> Bool {
        guard count > 1 else { return false }
        count -= 1
        return true
    }
}

/// Where decoding stands in the grammar: the parser stack and the lexer's state in the current token.
public struct GrammarState: Sendable, Hashable {
    var stack: ArrayStack
    public private(set) var lex: Int32

    /// The state before any text.
    public init(_ g: CompiledGrammar) {
        stack = ArrayStack(items: [g.startState])
        lex = g.lexStart[Int(g.startState)]
    }

    public var depth: Int { stack.depth }
    public var top: Int32 { stack.top }
    public var frames: [Int32] { stack.items }

    public static func == (a: GrammarState, b: GrammarState) -> Bool { a.lex == b.lex && a.stack.items == b.stack.items }
    public func hash(into h: inout Hasher) { h.combine(lex); h.combine(stack.items) }

    /// Advances over `bytes`; on failure the state is left unchanged.
    /// - Returns: the number of bytes accepted (all of them on success).
    @discardableResult
    public mutating func feed(_ bytes: some Sequence<UInt8>, _ g: CompiledGrammar) -> Bool {
        var copy = self
        for b in bytes {
            if g.feed(b, lex: &copy.lex, stack: &copy.stack) != .ok { return false }
        }
        self = copy
        return true
    }

    /// How many leading bytes of `bytes` the grammar accepts.
    public func acceptedPrefix(_ bytes: [UInt8], _ g: CompiledGrammar) -> Int {
        var copy = self
        for (k, b) in bytes.enumerated() where g.feed(b, lex: &copy.lex, stack: &copy.stack) != .ok { return k }
        return bytes.count
    }

    /// The state with the pending token emitted (nil if it cannot be emitted here).
    public func flushed(_ g: CompiledGrammar) -> GrammarState? {
        if lex == g.lexStart[Int(stack.top)] { return self }
        let t = g.lexAccept[Int(lex)]
        guard t >= 0 else { return nil }
        var copy = self
        guard g.emit(t, &copy.stack) == .ok else { return nil }
        copy.lex = g.lexStart[Int(copy.stack.top)]
        return copy
    }

    /// Whether `bytes` can follow and the token they leave pending can be emitted.
    func flushedAfter(_ bytes: [UInt8], _ g: CompiledGrammar) -> Bool {
        var copy = self
        return copy.feed(bytes, g) && copy.flushed(g) != nil
    }

    /// Whether the text so far is a complete program: every scope closed, nothing unfinished.
    public func canEnd(_ g: CompiledGrammar) -> Bool {
        guard let f = flushed(g) else { return false }
        return f.stack.depth == 1 && g.isAccepting(f.stack.top)
    }
}
