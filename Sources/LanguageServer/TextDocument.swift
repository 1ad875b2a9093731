import Foundation
import RPC

/// A place in a document as LSP counts it: 0-based line, 0-based UTF-16 code unit in that line.
public struct Position: Sendable, Equatable, Comparable {
    public var line: Int
    public var character: Int

    public init(line: Int, character: Int) {
        self.line = line
        self.character = character
    }

    /// Reads `{"line", "character"}`; nil when either is missing, not an integer or negative.
    public init?(_ json: JSONValue?) {
        guard let line = json?["line"]?.int, let character = json?["character"]?.int, line >= 0, character >= 0 else { return nil }
        self.init(line: line, character: character)
    }

    public var json: JSONValue { .object(["line": .integer(Int64(line)), "character": .integer(Int64(character))]) }

    public static func < (a: Position, b: Position) -> Bool { (a.line, a.character) < (b.line, b.character) }
}

/// A span between two positions, end exclusive.
public struct TextRange: Sendable, Equatable {
    public var start: Position
    public var end: Position

    public init(start: Position, end: Position) {
        self.start = start
        self.end = end
    }

    /// Reads `{"start", "end"}`; nil when malformed or when the end comes before the start.
    public init?(_ json: JSONValue?) {
        guard let start = Position(json?["start"]), let end = Position(json?["end"]), start <= end else { return nil }
        self.init(start: start, end: end)
    }

    public var json: JSONValue { .object(["start": start.json, "end": end.json]) }

    /// Whether `p` lies in the range (its end included, so a cursor just after a word still hovers it).
    public func contains(_ p: Position) -> Bool { start <= p && p <= end }
}

/// One open document: its text, its version and the line starts that turn LSP positions into
/// string indices. LSP counts columns in UTF-16 code units; Elixir's tools count characters
/// (Unicode scalars); both conversions live here and nowhere else.
public struct TextDocument: Sendable {
    public let uri: String
    public private(set) var version: Int
    public private(set) var text: String
    /// UTF-16 offset of each line's first code unit; a line ends at a "\n" (a "\r" before it stays in the line).
    private var lineStarts: [Int] = [0]

    public init(uri: String, version: Int, text: String) {
        self.uri = uri
        self.version = version
        self.text = text
        indexLines()
    }

    public var lineCount: Int { lineStarts.count }

    private mutating func indexLines() {
        lineStarts = [0]
        var offset = 0
        for unit in text.utf16 {
            offset += 1
            if unit == 10 { lineStarts.append(offset) }
        }
    }

    /// The text of line `n` (0-based) without its line break; empty past the end.
    public func line(_ n: Int) -> Substring {
        guard n >= 0, n < lineStarts.count else { return "" }
        let u = text.utf16
        let start = u.index(u.startIndex, offsetBy: lineStarts[n])
        let end = n + 1 < lineStarts.count ? u.index(u.startIndex, offsetBy: lineStarts[n + 1] - 1) : u.endIndex
        var s = text[start..<end]
        if s.hasSuffix("\r") { s = s.dropLast() }
        return s
    }

    /// The UTF-16 offset of `p`, clamped as LSP asks: a character past the line's end means the
    /// end of the line, a line past the last means the end of the text, and a position inside a
    /// surrogate pair moves to the start of its character.
    public func offset(of p: Position) -> Int {
        guard p.line < lineStarts.count else { return text.utf16.count }
        let lineLength = line(p.line).utf16.count
        var offset = lineStarts[p.line] + min(p.character, lineLength)
        let u = text.utf16
        if offset > 0, offset < u.count, UTF16.isTrailSurrogate(u[u.index(u.startIndex, offsetBy: offset)]) { offset -= 1 }
        return offset
    }

    public func index(of p: Position) -> String.Index {
        text.utf16.index(text.utf16.startIndex, offsetBy: offset(of: p))
    }

    /// The text in `range` (clamped).
    public func text(in range: TextRange) -> String {
        let a = index(of: range.start), b = index(of: range.end)
        return String(text[a..<max(a, b)])
    }

    /// Applies one `contentChanges` entry: a range and its new text, or (no range) the whole text.
    public mutating func apply(range: TextRange?, text newText: String) {
        if let range {
            let a = index(of: range.start), b = max(index(of: range.start), index(of: range.end))
            text.replaceSubrange(a..<b, with: newText)
        } else {
            text = newText
        }
        indexLines()
    }

    public mutating func setVersion(_ v: Int) { version = v }

    /// The LSP position of a 1-based line and 1-based column counted in characters (Unicode
    /// scalars, as Elixir's tokenizer counts them); both clamped to the text.
    public func position(line: Int, column: Int) -> Position {
        let n = min(max(0, line - 1), lineStarts.count - 1)
        let scalars = self.line(n).unicodeScalars
        var units = 0
        for (i, s) in scalars.enumerated() where i < column - 1 { units += s.utf16.count }
        return Position(line: n, character: units)
    }

    /// The range a finding on `line` (1-based), at `column` (1-based characters) when known,
    /// covers: from the column to the end of the word or operator there; without a column, the
    /// line from its first to its last non-blank character.
    public func range(line: Int, column: Int?) -> TextRange {
        let start0 = position(line: line, column: 1)
        let text = self.line(start0.line)
        let scalars = Array(text.unicodeScalars)
        func utf16(_ scalarCount: Int) -> Int { scalars.prefix(scalarCount).reduce(0) { $0 + $1.utf16.count } }
        let isBlank: (Unicode.Scalar) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" }
        guard let column, column >= 1, column - 1 < scalars.count else {
            let first = scalars.firstIndex { !isBlank($0) } ?? scalars.count
            let last = (scalars.lastIndex { !isBlank($0) }).map { $0 + 1 } ?? first
            return TextRange(start: Position(line: start0.line, character: utf16(first)), end: Position(line: start0.line, character: utf16(max(first, last))))
        }
        let from = column - 1
        let isWord: (Unicode.Scalar) -> Bool = { CharacterSet.alphanumerics.contains($0) || "_?!.@:".unicodeScalars.contains($0) }
        var to = from
        if isWord(scalars[from]) {
            while to < scalars.count, isWord(scalars[to]) { to += 1 }
        } else {
            while to < scalars.count, !isWord(scalars[to]), !isBlank(scalars[to]) { to += 1 }
        }
        return TextRange(start: Position(line: start0.line, character: utf16(from)), end: Position(line: start0.line, character: utf16(max(to, from + 1))))
    }
}
