/// A Thompson NFA over bytes holding every terminal of a grammar, one fragment each.
///
/// Lexer DFAs are built from it by subset construction over chosen sets of terminals;
/// DFA states with the same NFA subset are shared between lexers.
struct ByteNFA {
    var eps: [[Int32]] = []
    var edges: [[(ByteSet, Int32)]] = []
    /// Terminal accepted in a state, or -1.
    var accept: [Int32] = []

    mutating func newState() -> Int32 {
        eps.append([])
        edges.append([])
        accept.append(-1)
        return Int32(eps.count - 1)
    }

    /// Adds the fragment for `e` between `from` and `to`; `resolve` expands references.
    mutating func add(_ e: EBNFExpr, from: Int32, to: Int32, resolve: (String) throws -> EBNFExpr) throws {
        switch e {
        case .literal(let bytes):
            var cur = from
            for (k, b) in bytes.enumerated() {
                let next = k == bytes.count - 1 ? to : newState()
                edges[Int(cur)].append((ByteSet([b]), next))
                cur = next
            }
        case .bytes(let set):
            edges[Int(from)].append((set, to))
        case .ref(let name):
            try add(try resolve(name), from: from, to: to, resolve: resolve)
        case .seq(let xs):
            var cur = from
            for (k, x) in xs.enumerated() {
                let next = k == xs.count - 1 ? to : newState()
                try add(x, from: cur, to: next, resolve: resolve)
                cur = next
            }
        case .alt(let xs):
            for x in xs { try add(x, from: from, to: to, resolve: resolve) }
        case .opt(let x):
            eps[Int(from)].append(to)
            try add(x, from: from, to: to, resolve: resolve)
        case .star(let x):
            let a = newState(), b = newState()
            eps[Int(from)].append(a)
            eps[Int(b)].append(a)
            eps[Int(b)].append(to)
            eps[Int(from)].append(to)
            try add(x, from: a, to: b, resolve: resolve)
        case .plus(let x):
            let a = newState(), b = newState()
            eps[Int(from)].append(a)
            eps[Int(b)].append(a)
            eps[Int(b)].append(to)
            try add(x, from: a, to: b, resolve: resolve)
        }
    }

    /// Epsilon closure, sorted (so it can key a dictionary).
    func closure(_ states: [Int32]) -> [Int32] {
        var seen = Set<Int32>(states)
        var work = states
        while let s = work.popLast() {
            for t in eps[Int(s)] where seen.insert(t).inserted { work.append(t) }
        }
        return seen.sorted()
    }

    /// Successor subsets of `set`, one per byte that leads anywhere.
    func moves(_ set: [Int32]) -> [(UInt8, [Int32])] {
        var buckets = [[Int32]](repeating: [], count: 256)
        for s in set {
            for (bs, t) in edges[Int(s)] {
                for b in bs.bytes { buckets[Int(b)].append(t) }
            }
        }
        var out: [(UInt8, [Int32])] = []
        for b in 0..<256 where !buckets[b].isEmpty { out.append((UInt8(b), closure(buckets[b]))) }
        return out
    }

    /// Whether the fragment starting at `start` accepts exactly `bytes` (ending in a state accepting `terminal`).
    func accepts(_ bytes: [UInt8], start: Int32, terminal: Int32) -> Bool {
        var cur = closure([start])
        for b in bytes {
            var next: [Int32] = []
            for s in cur { for (bs, t) in edges[Int(s)] where bs.contains(b) { next.append(t) } }
            if next.isEmpty { return false }
            cur = closure(next)
        }
        return cur.contains { accept[Int($0)] == terminal }
    }

    /// The shortest text accepted from `start`, preferring printable ASCII.
    func shortestSample(start: Int32, terminal: Int32) -> [UInt8] {
        let order: [UInt8] = Array(32...126) + [10, 9] + (0...255).map(UInt8.init).filter { !($0 >= 32 && $0 <= 126) && $0 != 10 && $0 != 9 }
        let first = closure([start])
        var seen: Set<[Int32]> = [first]
        var queue: [([Int32], [UInt8])] = [(first, [])]
        var head = 0
        while head < queue.count {
            let (set, text) = queue[head]
            head += 1
            if set.contains(where: { accept[Int($0)] == terminal }) { return text }
            if text.count > 16 { continue }
            for b in order {
                var next: [Int32] = []
                for s in set { for (bs, t) in edges[Int(s)] where bs.contains(b) { next.append(t) } }
                if next.isEmpty { continue }
                let c = closure(next)
                if seen.insert(c).inserted { queue.append((c, text + [b])) }
            }
        }
        return []
    }
}

/// A Thompson NFA over grammar symbols (terminal ids, then scope calls) for one structural rule.
struct SymbolNFA {
    var eps: [[Int32]] = []
    var edges: [[(Int32, Int32)]] = []

    mutating func newState() -> Int32 {
        eps.append([])
        edges.append([])
        return Int32(eps.count - 1)
    }

    func closure(_ states: [Int32]) -> [Int32] {
        var seen = Set<Int32>(states)
        var work = states
        while let s = work.popLast() {
            for t in eps[Int(s)] where seen.insert(t).inserted { work.append(t) }
        }
        return seen.sorted()
    }
}
