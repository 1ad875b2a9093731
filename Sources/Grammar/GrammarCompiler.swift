import Foundation
import ElixirCoderCore

/// Compiles an EBNF grammar (the notation of `grammars/elixir.ebnf`) to a `CompiledGrammar`.
public enum GrammarCompiler {
    struct MachineDFA { var accepting: [Bool]; var edges: [[Int32: Int32]] }

    /// Compiles grammar text.
    /// - Throws: `GrammarError` for a malformed grammar, unbracketed recursion or an ambiguous step.
    public static func compile(_ text: String) throws -> CompiledGrammar {
        let t0 = Date()
        func trace(_ m: String) { if ProcessInfo.processInfo.environment["GRAMMAR_TRACE"] != nil { FileHandle.standardError.write(Data("\(m) \(Int(Date().timeIntervalSince(t0) * 1000)) ms\n".utf8)) } }
        let g = try EBNFGrammar(text: text)
        var sha = SHA256()
        sha.update(Array(text.utf8))
        let hash = SHA256.hex(sha.finalize())

        // ---- terminals: literals of structural rules first (they beat named ones), then named, in order ----
        var terminalIndex: [String: Int32] = [:]
        var terminalNames: [String] = []
        var terminalExprs: [EBNFExpr] = []
        var literalKeys: [String] = []
        func collectLiterals(_ e: EBNFExpr) {
            switch e {
            case .literal(let b):
                let key = "\"" + String(decoding: b, as: UTF8.self)
                if terminalIndex[key] == nil {
                    terminalIndex[key] = Int32(terminalNames.count)
                    terminalNames.append(String(decoding: b, as: UTF8.self))
                    terminalExprs.append(e)
                    literalKeys.append(key)
                }
            case .bytes: break
            case .ref: break
            case .seq(let xs), .alt(let xs): xs.forEach(collectLiterals)
            case .star(let x), .plus(let x), .opt(let x): collectLiterals(x)
            }
        }
        for r in g.rules where !r.isTerminal { collectLiterals(r.body) }
        let literalCount = terminalNames.count
        var usedNamed = Set<String>()
        for r in g.rules where !r.isTerminal {
            for n in EBNFGrammar.references(r.body) where g.rules[g.byName[n]!].isTerminal { usedNamed.insert(n) }
        }
        // A terminal no rule refers to is a blocker: it takes part in longest match only (below).
        var referenced = usedNamed
        for r in g.rules where r.isTerminal { referenced.formUnion(EBNFGrammar.references(r.body)) }
        for r in g.rules where r.isTerminal && (usedNamed.contains(r.name) || !referenced.contains(r.name)) {
            terminalIndex[r.name] = Int32(terminalNames.count)
            terminalNames.append(r.name)
            terminalExprs.append(r.body)
        }
        for r in g.rules where !r.isTerminal { try checkNoBytes(r.body, rule: r) }
        // Terminals must be regular: no terminal rule may reach itself.
        for r in g.rules where r.isTerminal {
            var seen = Set<String>(), work = EBNFGrammar.references(r.body)
            while let n = work.popLast() {
                if n == r.name { throw GrammarError(.unsupportedRecursion, "line \(r.line): terminal '\(r.name)' is recursive; terminals must be regular") }
                if seen.insert(n).inserted { work += EBNFGrammar.references(g.rules[g.byName[n]!].body) }
            }
        }
        let T = terminalNames.count

        trace("0")
        // ---- byte NFA with one fragment per terminal ----
        var nfa = ByteNFA()
        var terminalStart: [Int32] = []
        for (t, e) in terminalExprs.enumerated() {
            let s = nfa.newState(), a = nfa.newState()
            nfa.accept[Int(a)] = Int32(t)
            try nfa.add(e, from: s, to: a) { name in
                let rule = g.rules[g.byName[name]!]
                guard rule.isTerminal else {
                    throw GrammarError(.syntax, "line \(rule.line): terminal rules may refer only to terminal rules, not '\(name)'")
                }
                return rule.body
            }
            terminalStart.append(s)
        }

        trace("1")
        let samples = (0..<T).map { nfa.shortestSample(start: terminalStart[$0], terminal: Int32($0)) }

        trace("2")
        // ---- structure: scopes are recursive lowercase rules; the rest are expanded in place ----
        let lower = g.rules.indices.filter { !g.rules[$0].isTerminal }
        var refsOf: [Int: [Int]] = [:]
        for r in lower {
            refsOf[r] = EBNFGrammar.references(g.rules[r].body).compactMap { g.byName[$0] }.filter { !g.rules[$0].isTerminal }
        }
        func reaches(_ from: Int, _ target: Int) -> Bool {
            var seen = Set<Int>(), work = refsOf[from] ?? []
            while let x = work.popLast() {
                if x == target { return true }
                if seen.insert(x).inserted { work += refsOf[x] ?? [] }
            }
            return false
        }
        func isTerminalRef(_ e: EBNFExpr) -> Bool {
            if case .literal = e { return true }
            if case .ref(let n) = e { return g.rules[g.byName[n]!].isTerminal }
            return false
        }
        func edge(_ e: EBNFExpr, first: Bool) -> Bool {
            switch e {
            case .literal, .ref: return isTerminalRef(e)
            case .seq(let xs): return edge(first ? xs[0] : xs[xs.count - 1], first: first)
            case .alt(let xs): return xs.allSatisfy { edge($0, first: first) }
            case .plus(let x): return edge(x, first: first)
            default: return false
            }
        }
        // Recursion through a bracketed rule becomes a push; other rules are expanded in place.
        let scopes = lower.filter { reaches($0, $0) && edge(g.rules[$0].body, first: true) && edge(g.rules[$0].body, first: false) }
        var scopeIndex: [String: Int32] = [:]
        for (k, r) in scopes.enumerated() { scopeIndex[g.rules[r].name] = Int32(k) }
        let startRule = 0
        guard !g.rules[startRule].isTerminal else { throw GrammarError(.syntax, "the first rule, the start rule, must be a lowercase (structural) rule") }
        guard !scopes.contains(startRule) else { throw GrammarError(.unsupportedRecursion, "the start rule '\(g.rules[startRule].name)' must not be recursive") }
        let machines = [startRule] + scopes

        // One DFA per machine over symbols (terminal ids; T + k calls scope k).
        // Each structural rule becomes a minimized DFA over symbols once; a rule that is expanded
        // in place is copied in as its small DFA rather than rebuilt as a large NFA every time.
        var memo: [String: MachineDFA] = [:]
        var inlining: [String] = []
        func ruleDFA(_ name: String) throws -> MachineDFA {
            if let d = memo[name] { return d }
            let rule = g.rules[g.byName[name]!]
            guard !inlining.contains(name) else {
                throw GrammarError(.unsupportedRecursion, "line \(rule.line): '\(name)' is recursive but not bracketed")
            }
            inlining.append(name)
            defer { inlining.removeLast() }
            var snfa = SymbolNFA()
            let s = snfa.newState(), a = snfa.newState()
            func build(_ e: EBNFExpr, _ from: Int32, _ to: Int32) throws {
                switch e {
                case .literal(let b):
                    snfa.edges[Int(from)].append((terminalIndex["\"" + String(decoding: b, as: UTF8.self)]!, to))
                case .bytes:
                    break
                case .ref(let name):
                    let rule = g.rules[g.byName[name]!]
                    if rule.isTerminal {
                        snfa.edges[Int(from)].append((terminalIndex[name]!, to))
                    } else if let k = scopeIndex[name] {
                        snfa.edges[Int(from)].append((Int32(T) + k, to))
                    } else {
                        let sub = try ruleDFA(name)
                        let base = Int32(snfa.eps.count)
                        for _ in sub.accepting { _ = snfa.newState() }
                        snfa.eps[Int(from)].append(base)
                        for (k, e) in sub.edges.enumerated() {
                            for (sym, t) in e { snfa.edges[Int(base) + k].append((sym, base + t)) }
                            if sub.accepting[k] { snfa.eps[Int(base) + k].append(to) }
                        }
                    }
                case .seq(let xs):
                    var cur = from
                    for (k, x) in xs.enumerated() {
                        let next = k == xs.count - 1 ? to : snfa.newState()
                        try build(x, cur, next)
                        cur = next
                    }
                case .alt(let xs):
                    for x in xs { try build(x, from, to) }
                case .opt(let x):
                    snfa.eps[Int(from)].append(to)
                    try build(x, from, to)
                case .star(let x), .plus(let x):
                    let p = snfa.newState(), q = snfa.newState()
                    snfa.eps[Int(from)].append(p)
                    snfa.eps[Int(q)].append(p)
                    snfa.eps[Int(q)].append(to)
                    if case .star = e { snfa.eps[Int(from)].append(to) }
                    try build(x, p, q)
                }
            }
            try build(rule.body, s, a)
            // Subset construction.
            var ids: [[Int32]: Int32] = [:]
            var sets: [[Int32]] = []
            var dfa = MachineDFA(accepting: [], edges: [])
            func intern(_ set: [Int32]) -> Int32 {
                if let id = ids[set] { return id }
                let id = Int32(sets.count)
                ids[set] = id
                sets.append(set)
                dfa.accepting.append(set.contains(a))
                dfa.edges.append([:])
                return id
            }
            _ = intern(snfa.closure([s]))
            var k = 0
            while k < sets.count {
                var bySym: [Int32: [Int32]] = [:]
                for st in sets[k] { for (sym, t) in snfa.edges[Int(st)] { bySym[sym, default: []].append(t) } }
                for (sym, targets) in bySym { dfa.edges[k][sym] = intern(snfa.closure(targets)) }
                k += 1
            }
            let small = minimize(dfa.accepting, dfa.edges)
            let d = MachineDFA(accepting: small.accepting, edges: small.edges)
            memo[name] = d
            return d
        }
        var dfas: [MachineDFA] = []
        for m in machines { dfas.append(try ruleDFA(g.rules[m].name)) }

        trace("3")
        // Global numbering of parser states.
        var offset: [Int32] = []
        var Q = 0
        for d in dfas { offset.append(Int32(Q)); Q += d.accepting.count }
        var machineOfScope: [Int32] = Array(repeating: -1, count: scopes.count)
        for (mi, m) in machines.enumerated() { if let k = scopeIndex[g.rules[m].name] { machineOfScope[Int(k)] = Int32(mi) } }

        var actNext = [Int32](repeating: -1, count: Q * T)
        var actRet = [Int32](repeating: -1, count: Q * T)
        var flags = [UInt8](repeating: 0, count: Q)
        var stateMachine = [Int32](repeating: 0, count: Q)
        for (mi, d) in dfas.enumerated() {
            for (local, acc) in d.accepting.enumerated() {
                let q = Int(offset[mi]) + local
                stateMachine[q] = Int32(mi)
                if acc { flags[q] |= 1 }
                if acc && d.edges[local].isEmpty && mi > 0 { flags[q] |= 2 }
            }
            if mi > 0 {
                let name = g.rules[machines[mi]].name
                guard !d.accepting[0] else { throw GrammarError(.unsupportedRecursion, "scope '\(name)' can be empty; a recursive rule must start with a terminal") }
                guard d.edges[0].keys.allSatisfy({ $0 < T }) else { throw GrammarError(.unsupportedRecursion, "scope '\(name)' must start with a terminal") }
                for (local, acc) in d.accepting.enumerated() where acc && !d.edges[local].isEmpty {
                    throw GrammarError(.unsupportedRecursion, "scope '\(name)' must end with a terminal (it can continue after reaching its end)")
                }
            }
        }
        for (mi, d) in dfas.enumerated() {
            for local in d.accepting.indices {
                let q = Int(offset[mi]) + local
                for (sym, target) in d.edges[local] where sym < T {
                    actNext[q * T + Int(sym)] = offset[mi] + target
                }
                for (sym, ret) in d.edges[local].sorted(by: { $0.key < $1.key }) where sym >= T {
                    let callee = Int(machineOfScope[Int(sym) - T])
                    for (t, entry) in dfas[callee].edges[0] {
                        let slot = q * T + Int(t)
                        if actNext[slot] >= 0 {
                            let what = actRet[slot] >= 0 ? "entering another scope" : "a plain step"
                            throw GrammarError(.conflict, "in '\(g.rules[machines[mi]].name)', terminal \(terminalNames[Int(t)].debugDescription) could enter scope '\(g.rules[machines[callee]].name)' or be \(what)")
                        }
                        actNext[slot] = offset[callee] + entry
                        actRet[slot] = offset[mi] + ret
                    }
                }
            }
        }

        trace("4")
        // ---- closing distances within each machine (Dijkstra backwards over terminal edges) ----
        var closeDist = [Int32](repeating: Int32.max, count: Q)
        var closeNext = [Int32](repeating: -1, count: Q)
        for (mi, d) in dfas.enumerated() {
            let base = Int(offset[mi])
            var reverse: [[(Int, Int32, Int32)]] = Array(repeating: [], count: d.accepting.count)
            for (local, e) in d.edges.enumerated() {
                for (sym, target) in e where sym < T {
                    // Ties go to a line break, then other white space (closing text reads like code).
                    let sample = samples[Int(sym)]
                    let taste: Int32 = sample == [10] ? 0 : sample.allSatisfy({ $0 == 32 || $0 == 10 || $0 == 9 }) ? 1 : 2
                    reverse[Int(target)].append((local, sym, Int32(max(1, sample.count)) * 4 + taste))
                }
            }
            var dist = [Int32](repeating: Int32.max, count: d.accepting.count)
            var done = [Bool](repeating: false, count: d.accepting.count)
            for (local, acc) in d.accepting.enumerated() where acc { dist[local] = 0 }
            while true {
                var best = -1
                for i in dist.indices where !done[i] && dist[i] != Int32.max && (best < 0 || dist[i] < dist[best]) { best = i }
                if best < 0 { break }
                done[best] = true
                for (from, sym, cost) in reverse[best] where dist[best] + cost < dist[from] {
                    dist[from] = dist[best] + cost
                    closeNext[base + from] = sym
                }
            }
            for i in dist.indices { closeDist[base + i] = dist[i] }
        }

        trace("5")
        // A named terminal reserves the literals it also matches and that can come in the same
        // place, but not literals of other contexts (`+` in a regex). Word literals are reserved
        // everywhere, as Elixir's reserved words are: `else` is never a name, even where no `else` fits.
        var reserves: [[Int32]] = Array(repeating: [], count: T)
        for n in literalCount..<T {
            for l in 0..<literalCount {
                guard case .literal(let b) = terminalExprs[l], nfa.accepts(b, start: terminalStart[n], terminal: Int32(n)) else { continue }
                let word = b.allSatisfy { ($0 >= 97 && $0 <= 122) || $0 == 95 }
                if word || (0..<Q).contains(where: { q in actNext[q * T + n] >= 0 && actNext[q * T + l] >= 0 }) { reserves[n].append(Int32(l)) }
            }
        }

        // ---- lexers: one per distinct set of terminals a state can take (plus reserved literals) ----
        var lexIDs: [[Int32]: Int32] = [:]
        var lexSets: [[Int32]] = []
        var lexAccept: [Int32] = []
        var lexTrans: [Int32] = []
        func internLex(_ set: [Int32]) -> Int32 {
            if let id = lexIDs[set] { return id }
            let id = Int32(lexSets.count)
            lexIDs[set] = id
            lexSets.append(set)
            lexAccept.append(set.compactMap { nfa.accept[Int($0)] >= 0 ? nfa.accept[Int($0)] : nil }.min() ?? -1)
            lexTrans.append(contentsOf: repeatElement(-1, count: 256))
            return id
        }
        trace("6")
        // A literal's lexer also needs the named terminals that could run on past it where it
        // can come (`endx` is an identifier, not `end` then `x`), or longest match would differ.
        var extenders: [[Int32]] = Array(repeating: [], count: T)
        for l in 0..<literalCount {
            guard case .literal(let b) = terminalExprs[l] else { continue }
            for n in literalCount..<T {
                var cur = nfa.closure([terminalStart[n]])
                for byte in b {
                    var next: [Int32] = []
                    for st in cur { for (bs, t) in nfa.edges[Int(st)] where bs.contains(byte) { next.append(t) } }
                    cur = next.isEmpty ? [] : nfa.closure(next)
                    if cur.isEmpty { break }
                }
                guard cur.contains(where: { !nfa.edges[Int($0)].isEmpty }) else { continue }
                if (0..<Q).contains(where: { q in actNext[q * T + n] >= 0 && actNext[q * T + l] >= 0 }) { extenders[l].append(Int32(n)) }
            }
            // Likewise longer literals (`++` where only `+` fits: Elixir reads `++`, not `+` `+`).
            for l2 in 0..<literalCount where l2 != l {
                guard case .literal(let b2) = terminalExprs[l2], b2.count > b.count, Array(b2.prefix(b.count)) == b else { continue }
                if (0..<Q).contains(where: { q in actNext[q * T + l2] >= 0 && actNext[q * T + l] >= 0 }) { extenders[l].append(Int32(l2)) }
            }
        }
        // A blocker runs in the lexers of the terminals it is built from (`IDENT_TYPED ":"`):
        // where Elixir reads its longer text as one token, nothing fits.
        var blockers: [[Int32]] = Array(repeating: [], count: T)
        for u in literalCount..<T where !usedNamed.contains(terminalNames[u]) {
            for name in EBNFGrammar.references(terminalExprs[u]) {
                if let n = terminalIndex[name] { blockers[Int(n)].append(Int32(u)) }
            }
        }
        var lexStart = [Int32](repeating: -1, count: Q)
        var startByTerminals: [[Int32]: Int32] = [:]
        for q in 0..<Q {
            var ts = Set<Int32>()
            for t in 0..<T where actNext[q * T + t] >= 0 {
                ts.insert(Int32(t))
                for r in reserves[t] { ts.insert(r) }
                for b in blockers[t] { ts.insert(b) }
                for x in extenders[t] {
                    ts.insert(x)
                    for r in reserves[Int(x)] { ts.insert(r) }
                }
            }
            let key = ts.sorted()
            if let s = startByTerminals[key] { lexStart[q] = s; continue }
            let s = internLex(nfa.closure(key.map { terminalStart[Int($0)] }))
            startByTerminals[key] = s
            lexStart[q] = s
        }
        trace("7")
        var k = 0
        while k < lexSets.count {
            for (b, target) in nfa.moves(lexSets[k]) {
                let id = internLex(target)
                lexTrans[k << 8 | Int(b)] = id
            }
            k += 1
        }
        trace("8")
        let L = lexSets.count
        var hasOut = [UInt8](repeating: 0, count: L)
        var reverse: [[(Int32, UInt8)]] = Array(repeating: [], count: L)
        for l in 0..<L {
            for b in 0..<256 where lexTrans[l << 8 | b] >= 0 {
                hasOut[l] = 1
                reverse[Int(lexTrans[l << 8 | b])].append((Int32(l), UInt8(b)))
            }
        }
        var suffixNext = [Int16](repeating: -1, count: L)
        var suffixLen = [Int32](repeating: Int32.max, count: L)
        var queue: [Int32] = []
        for l in 0..<L where lexAccept[l] >= 0 { suffixLen[l] = 0; queue.append(Int32(l)) }
        var head = 0
        while head < queue.count {
            let cur = queue[head]
            head += 1
            for (from, b) in reverse[Int(cur)] where suffixLen[Int(from)] == Int32.max {
                suffixLen[Int(from)] = suffixLen[Int(cur)] + 1
                suffixNext[Int(from)] = Int16(b)
                queue.append(from)
            }
        }

        // Terminals reachable from each lexer state, and viable in each parser state, as bitsets.
        let W = (T + 63) / 64
        var reach = [UInt64](repeating: 0, count: L * W)
        for l in 0..<L where lexAccept[l] >= 0 { reach[l * W + Int(lexAccept[l]) / 64] |= 1 << UInt64(Int(lexAccept[l]) % 64) }
        var changed = true
        while changed {
            changed = false
            for l in 0..<L {
                for b in 0..<256 {
                    let t = Int(lexTrans[l << 8 | b])
                    guard t >= 0 else { continue }
                    for w in 0..<W where reach[t * W + w] & ~reach[l * W + w] != 0 {
                        reach[l * W + w] |= reach[t * W + w]
                        changed = true
                    }
                }
            }
        }
        var viable = [UInt64](repeating: 0, count: Q * W)
        for q in 0..<Q { for t in 0..<T where actNext[q * T + t] >= 0 { viable[q * W + t / 64] |= 1 << UInt64(t % 64) } }

        return CompiledGrammar(
            terminalNames: terminalNames, terminalSamples: samples, terminalCount: T,
            stateCount: Q, actNext: actNext, actRet: actRet, stateFlags: flags, lexStart: lexStart,
            closeDist: closeDist, closeNext: closeNext, stateMachine: stateMachine,
            machineNames: machines.map { g.rules[$0].name }, startState: offset[0],
            lexStateCount: L, lexTrans: lexTrans, lexAccept: lexAccept, lexHasOut: hasOut, lexSuffixNext: suffixNext,
            terminalWords: W, lexReach: reach, viableBits: viable,
            grammarHash: hash)
    }

    private static func checkNoBytes(_ e: EBNFExpr, rule: EBNFRule) throws {
        switch e {
        case .bytes: throw GrammarError(.syntax, "line \(rule.line): byte classes belong in terminal (UPPERCASE) rules, not in '\(rule.name)'")
        case .literal, .ref: return
        case .seq(let xs), .alt(let xs): for x in xs { try checkNoBytes(x, rule: rule) }
        case .star(let x), .plus(let x), .opt(let x): try checkNoBytes(x, rule: rule)
        }
    }

    /// Moore minimization of one machine's DFA (the inlined `code` rule makes many equal states).
    private static func minimize(_ accepting: [Bool], _ edges: [[Int32: Int32]]) -> (accepting: [Bool], edges: [[Int32: Int32]]) {
        let n = accepting.count
        var cls = accepting.map { $0 ? 1 : 0 }
        var classCount = Set(cls).count
        while true {
            var sigs: [[Int]: Int] = [:]
            var next = [Int](repeating: 0, count: n)
            for s in 0..<n {
                var sig = [cls[s]]
                for (sym, t) in edges[s].sorted(by: { $0.key < $1.key }) { sig.append(Int(sym)); sig.append(cls[Int(t)]) }
                if let c = sigs[sig] { next[s] = c } else { next[s] = sigs.count; sigs[sig] = sigs.count }
            }
            let count = sigs.count
            cls = next
            if count == classCount { break }
            classCount = count
        }
        // Keep the start state as class 0.
        var remap = [Int](repeating: -1, count: classCount)
        var order = 0
        remap[cls[0]] = 0
        order = 1
        for s in 0..<n where remap[cls[s]] < 0 { remap[cls[s]] = order; order += 1 }
        var acc = [Bool](repeating: false, count: classCount)
        var out = [[Int32: Int32]](repeating: [:], count: classCount)
        for s in 0..<n {
            let c = remap[cls[s]]
            acc[c] = accepting[s]
            for (sym, t) in edges[s] { out[c][sym] = Int32(remap[cls[Int(t)]]) }
        }
        return (acc, out)
    }
}
