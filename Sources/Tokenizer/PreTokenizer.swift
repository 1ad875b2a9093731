/// Splits text into the pieces that BPE merges never cross, as llama.cpp's
/// `smollm` pre-tokenizer does: every digit alone, then the GPT-2 pattern
/// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`.
///
/// A hand-written scanner over Unicode scalars: no regex engine, no backtracking.
public struct PreTokenizer: Sendable {
    /// Unicode classes the pattern distinguishes.
    enum CharClass: UInt8 { case letter, number, space, other }

    /// Whether digits are split one by one before the GPT-2 pattern runs.
    public let splitDigits: Bool

    public init(splitDigits: Bool = true) {
        self.splitDigits = splitDigits
    }

    /// Byte ranges (into the UTF-8 of `text`) of each pre-token, in order.
    public func split(_ text: String) -> [Range<Int>] {
        var scalars: [Unicode.Scalar] = []
        var offsets: [Int] = []
        scalars.reserveCapacity(text.utf8.count)
        offsets.reserveCapacity(text.utf8.count + 1)
        var off = 0
        for s in text.unicodeScalars {
            scalars.append(s)
            offsets.append(off)
            off += UTF8.width(s)
        }
        offsets.append(off)
        let classes = scalars.map(Self.classify)

        var out: [Range<Int>] = []
        var start = 0
        let n = scalars.count
        // First pass: isolate digits; each stretch between them gets the GPT-2 pattern.
        var i = 0
        while i < n {
            if splitDigits && classes[i] == .number {
                if start < i { gpt2(scalars, classes, start, i) { out.append(offsets[$0]..<offsets[$1]) } }
                out.append(offsets[i]..<offsets[i + 1])
                start = i + 1
            }
            i += 1
        }
        if start < n { gpt2(scalars, classes, start, n) { out.append(offsets[$0]..<offsets[$1]) } }
        return out
    }

    /// The GPT-2 pattern over `scalars[lo..<hi]`, emitting scalar index ranges.
    private func gpt2(_ s: [Unicode.Scalar], _ c: [CharClass], _ lo: Int, _ hi: Int, emit: (Int, Int) -> Void) {
        var i = lo
        while i < hi {
            // Contractions: 's 't 'm 'd 're 've 'll (lowercase only, like the pattern).
            if s[i] == "'" && i + 1 < hi {
                let a = s[i + 1]
                if a == "s" || a == "t" || a == "m" || a == "d" { emit(i, i + 2); i += 2; continue }
                if i + 2 < hi {
                    let b = s[i + 2]
                    if (a == "r" && b == "e") || (a == "v" && b == "e") || (a == "l" && b == "l") { emit(i, i + 3); i += 3; continue }
                }
            }
            // An optional single space, then a run of one class.
            let lead = (s[i] == " " && i + 1 < hi) ? 1 : 0
            let k = c[i + lead]
            if k == .letter || k == .number || (k == .other && (lead == 1 || c[i] == .other)) {
                var j = i + lead + 1
                while j < hi && c[j] == k { j += 1 }
                emit(i, j)
                i = j
                continue
            }
            // Whitespace: `\s+(?!\S)` leaves the last space to the next word; `\s+` takes the rest.
            var j = i + 1
            while j < hi && c[j] == .space { j += 1 }
            if j < hi && j - i >= 2 { j -= 1 }
            emit(i, j)
            i = j
        }
    }

    static func classify(_ s: Unicode.Scalar) -> CharClass {
        let v = s.value
        if v < 128 {
            switch v {
            case 0x30...0x39: return .number
            case 0x41...0x5A, 0x61...0x7A: return .letter
            case 0x09...0x0D, 0x20: return .space
            default: return .other
            }
        }
        let p = s.properties
        if p.isWhitespace { return .space }
        switch p.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return .letter
        case .decimalNumber, .letterNumber, .otherNumber: return .number
        default: return .other
        }
    }
}
