/// Why a grammar could not be read or compiled.
public struct GrammarError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Code: String, Sendable { case syntax, undefinedRule, unsupportedRecursion, conflict, cache, io }
    public let code: Code
    public let message: String
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }
    public var description: String { message }
}

/// A set of byte values, as a 256-bit bitmap.
public struct ByteSet: Hashable, Sendable {
    public var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)

    public init() {}
    public init(_ bytes: some Sequence<UInt8>) { for b in bytes { insert(b) } }
    public init(range: ClosedRange<UInt8>) { for b in range { insert(b) } }

    public func contains(_ b: UInt8) -> Bool {
        let bit = UInt64(1) << UInt64(b & 63)
        switch b >> 6 {
        case 0: return words.0 & bit != 0
        case 1: return words.1 & bit != 0
        case 2: return words.2 & bit != 0
        default: return words.3 & bit != 0
        }
    }

    public mutating func insert(_ b: UInt8) {
        let bit = UInt64(1) << UInt64(b & 63)
        switch b >> 6 {
        case 0: words.0 |= bit
        case 1: words.1 |= bit
        case 2: words.2 |= bit
        default: words.3 |= bit
        }
    }

    public var inverted: ByteSet {
        var s = ByteSet()
        s.words = (~words.0, ~words.1, ~words.2, ~words.3)
        return s
    }

    public var isEmpty: Bool { words.0 | words.1 | words.2 | words.3 == 0 }
    public var bytes: [UInt8] { (0...255).compactMap { contains(UInt8($0)) ? UInt8($0) : nil } }

    public static func == (a: ByteSet, b: ByteSet) -> Bool {
        a.words.0 == b.words.0 && a.words.1 == b.words.1 && a.words.2 == b.words.2 && a.words.3 == b.words.3
    }
    public func hash(into h: inout Hasher) {
        h.combine(words.0); h.combine(words.1); h.combine(words.2); h.combine(words.3)
    }
}

/// One EBNF expression.
public indirect enum EBNFExpr: Sendable, Equatable {
    case literal([UInt8])
    case bytes(ByteSet)
    case ref(String)
    case seq([EBNFExpr])
    case alt([EBNFExpr])
    case star(EBNFExpr)
    case plus(EBNFExpr)
    case opt(EBNFExpr)
}

/// One rule of an EBNF grammar.
public struct EBNFRule: Sendable, Equatable {
    public let name: String
    public let body: EBNFExpr
    public let line: Int
    /// Terminals are written in capitals; structure in lowercase.
    public var isTerminal: Bool { name.first.map { $0.isUppercase } ?? false }
}

/// A parsed EBNF grammar (the notation is described at the top of `grammars/elixir.ebnf`).
public struct EBNFGrammar: Sendable {
    public let rules: [EBNFRule]
    public let byName: [String: Int]

    /// Parses grammar text; the first rule is the start rule.
    public init(text: String) throws {
        var p = EBNFParser(Array(text.utf8))
        var rules: [EBNFRule] = []
        var byName: [String: Int] = [:]
        while true {
            p.skipSpace()
            if p.atEnd { break }
            let line = p.line
            let name = try p.name()
            p.skipSpace()
            if p.eat("::=") || p.eat("=") {} else { throw p.error("expected ::= after rule name '\(name)'") }
            let body = try p.alternatives()
            p.skipSpace()
            // `;` ends a rule; GBNF leaves it out (the next rule's `name ::=` ends it).
            if !p.eat(";") && !p.atEnd && !p.atRuleStart() { throw p.error("expected ; at the end of rule '\(name)'") }
            guard byName[name] == nil else { throw GrammarError(.syntax, "line \(line): rule '\(name)' is defined twice") }
            byName[name] = rules.count
            rules.append(EBNFRule(name: name, body: body, line: line))
        }
        guard !rules.isEmpty else { throw GrammarError(.syntax, "the grammar has no rules") }
        for r in rules {
            for n in Self.references(r.body) where byName[n] == nil {
                throw GrammarError(.undefinedRule, "line \(r.line): rule '\(r.name)' refers to '\(n)', which is not defined")
            }
        }
        self.rules = rules
        self.byName = byName
    }

    /// Rule names an expression refers to, in order of appearance.
    public static func references(_ e: EBNFExpr) -> [String] {
        switch e {
        case .literal, .bytes: return []
        case .ref(let n): return [n]
        case .seq(let xs), .alt(let xs): return xs.flatMap(references)
        case .star(let x), .plus(let x), .opt(let x): return references(x)
        }
    }
}

/// A hand-written recursive-descent reader for the EBNF notation.
struct EBNFParser {
    let s: [UInt8]
    var i = 0
    var line = 1

    init(_ s: [UInt8]) { self.s = s }

    var atEnd: Bool { i >= s.count }

    func error(_ m: String) -> GrammarError { GrammarError(.syntax, "line \(line): \(m)") }

    mutating func skipSpace() {
        while i < s.count {
            let c = s[i]
            if c == 10 { line += 1; i += 1 } else if c == 32 || c == 9 || c == 13 { i += 1 } else if c == 40, i + 1 < s.count, s[i + 1] == 42 {
                i += 2
                while i + 1 < s.count, !(s[i] == 42 && s[i + 1] == 41) {
                    if s[i] == 10 { line += 1 }
                    i += 1
                }
                i = min(s.count, i + 2)
            } else { return }
        }
    }

    /// Whether a `name ::=` starts here.
    func atRuleStart() -> Bool {
        var copy = self
        guard (try? copy.name()) != nil else { return false }
        copy.skipSpace()
        return copy.eat("::=")
    }

    mutating func eat(_ lit: String) -> Bool {
        let b = Array(lit.utf8)
        guard i + b.count <= s.count, Array(s[i..<i + b.count]) == b else { return false }
        i += b.count
        return true
    }

    static func isNameByte(_ c: UInt8) -> Bool {
        (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c == 95
    }

    mutating func name() throws -> String {
        let start = i
        while i < s.count, Self.isNameByte(s[i]) { i += 1 }
        guard i > start else { throw error("expected a rule name") }
        return String(decoding: s[start..<i], as: UTF8.self)
    }

    mutating func alternatives() throws -> EBNFExpr {
        var alts = [try sequence()]
        while true {
            skipSpace()
            if eat("|") { alts.append(try sequence()) } else { break }
        }
        return alts.count == 1 ? alts[0] : .alt(alts)
    }

    mutating func sequence() throws -> EBNFExpr {
        var items: [EBNFExpr] = []
        while true {
            skipSpace()
            guard i < s.count else { break }
            let c = s[i]
            if c == 59 || c == 124 || c == 41 { break } // ; | )
            // GBNF ends a rule at the line where the next `name ::=` starts, with no `;`.
            if Self.isNameByte(c) {
                let save = i, saveLine = line
                _ = try? name()
                skipSpace()
                let next = eat("::=")
                i = save
                line = saveLine
                if next { break }
            }
            var item = try atom()
            while i < s.count {
                if s[i] == 42 { item = .star(item); i += 1 } else if s[i] == 43 { item = .plus(item); i += 1 } else if s[i] == 63 { item = .opt(item); i += 1 } else { break }
            }
            items.append(item)
        }
        guard !items.isEmpty else { throw error("empty alternative") }
        return items.count == 1 ? items[0] : .seq(items)
    }

    mutating func atom() throws -> EBNFExpr {
        let c = s[i]
        switch c {
        case 34, 39:
            i += 1
            var out: [UInt8] = []
            while true {
                guard i < s.count, s[i] != 10 else { throw error("unterminated literal") }
                if s[i] == c { i += 1; break }
                out.append(try escapedByte())
            }
            guard !out.isEmpty else { throw error("empty literal") }
            return .literal(out)
        case 91:
            i += 1
            var set = ByteSet()
            var negate = false
            if i < s.count, s[i] == 94 { negate = true; i += 1 }
            while true {
                guard i < s.count else { throw error("unterminated byte class") }
                if s[i] == 93 { i += 1; break }
                let lo = try escapedByte()
                if i + 1 < s.count, s[i] == 45, s[i + 1] != 93 {
                    i += 1
                    let hi = try escapedByte()
                    guard lo <= hi else { throw error("byte range out of order") }
                    for b in lo...hi { set.insert(b) }
                } else { set.insert(lo) }
            }
            return .bytes(negate ? set.inverted : set)
        case 40:
            i += 1
            let inner = try alternatives()
            skipSpace()
            guard eat(")") else { throw error("expected )") }
            return inner
        default:
            guard Self.isNameByte(c) else { throw error("unexpected character '\(String(decoding: [c], as: UTF8.self))'") }
            return .ref(try name())
        }
    }

    mutating func escapedByte() throws -> UInt8 {
        let c = s[i]
        i += 1
        guard c == 92 else { return c }
        guard i < s.count else { throw error("dangling backslash") }
        let e = s[i]
        i += 1
        switch e {
        case 110: return 10
        case 116: return 9
        case 114: return 13
        case 120:
            guard i + 2 <= s.count, let v = UInt8(String(decoding: s[i..<i + 2], as: UTF8.self), radix: 16) else { throw error("bad \\x escape") }
            i += 2
            return v
        default: return e
        }
    }
}
