import Checks
import Foundation

/// The concrete fix for one syntax error, built from the parser's own hints (its token, position and
/// the terminator it names) and the code: a stray closer is deleted, an open `do` gets its `end`.
public struct SyntaxFix: Sendable, Equatable {
    /// The kinds of syntax error with a fix of their own.
    public enum Kind: String, Sendable, CaseIterable {
        /// A closing delimiter with no opener left to close: delete it.
        case strayCloser
        /// A closing delimiter while another opener is still open: close that one first.
        case mismatchedCloser
        /// A block or bracket never closed: add its terminator.
        case missingTerminator
        /// A string, charlist, sigil or heredoc never closed.
        case unterminatedString
        /// `key: => value` in a map: one key style or the other.
        case mixedMapKeys
        /// A keyword list followed by another argument: wrap it in brackets.
        case keywordNotLast
        /// Anything else: the token cannot follow what precedes it.
        case unexpectedToken
    }

    public var kind: Kind
    /// Markdown: what to change, naming the line and showing it.
    public var text: String

    static let closers: [Character: Character] = [")": "(", "]": "[", "}": "{"]

    /// The fix for `finding` (a syntax finding) in `code`; nil for other findings.
    public static func make(code: String, finding: Finding) -> SyntaxFix? {
        guard finding.source == .syntax else { return nil }
        let lines = code.components(separatedBy: "\n")
        let line = finding.line
        let text = line >= 1 && line <= lines.count ? lines[line - 1] : ""
        let shown = "```elixir\n\(text)\n\(caret(finding.column))\n```"
        let m = finding.message
        if let token = unexpectedToken(m), let closer = token.first, token.count == 1, let opener = closers[closer] {
            if let open = unclosedOpener(code, beforeLine: line, column: finding.column ?? 1, of: opener) {
                return SyntaxFix(kind: .mismatchedCloser, text: "The `\(open.kind)` opened on line \(open.line) is still open where this `\(token)` stands on line \(line), column \(finding.column ?? 1). Close the `\(open.kind)` with its own partner (`\(partner(open.kind))`) before this `\(token)`:\n\n\(shown)")
            }
            let fixed = deleting(text, at: finding.column)
            return SyntaxFix(kind: .strayCloser, text: "The `\(token)` on line \(line), column \(finding.column ?? 1) closes nothing: every opener before it is already closed. Delete it:\n\n\(shown)\n\nbecomes\n\n```elixir\n\(fixed)\n```\n\n" + hintNote(m))
        }
        if m.hasPrefix("missing terminator:") {
            let term = m.dropFirst("missing terminator: ".count).prefix { $0 != " " }
            let opened = firstNumber(after: "starting at line ", in: m) ?? firstNumber(after: "at line ", in: m)
            let isString = ["\"", "'", "\"\"\"", "'''"].contains(String(term)) || m.contains("heredoc") || m.contains("sigil")
            let what = m.contains("heredoc") ? "heredoc" : isString ? "string" : "`\(m.range(of: "for \"").map { String(m[$0.upperBound...].prefix { $0 != "\"" }) } ?? String(term))`"
            let place = opened.map { " opened on line \($0)" } ?? ""
            if isString {
                let how = term.count == 3 ? "`\(term)` on a line of its own" : "`\(term)`"
                return SyntaxFix(kind: .unterminatedString, text: "The \(what)\(place) is never closed, so the rest of the file is read as its text. Close it with \(how) where its text ends.")
            }
            return SyntaxFix(kind: .missingTerminator, text: "The \(what)\(place) is never closed. Add `\(term)` where its block ends (match each `do` with an `end`, each opener with its closer).")
        }
        if m.hasPrefix("syntax error before: '=>'") || m.hasPrefix("syntax error before: =>"), let col = finding.column,
           let key = text.prefix(max(0, col - 1)).range(of: #"(\w+):\s*$"#, options: .regularExpression) {
            let name = text[key].trimmingCharacters(in: CharacterSet(charactersIn: ": "))
            return SyntaxFix(kind: .mixedMapKeys, text: "`\(name): =>` mixes the two ways of writing a map key. Write `\(name): value` (an atom key) or `:\(name) => value` (any key), not both:\n\n\(shown)")
        }
        if m.hasPrefix("unexpected expression after keyword list"), let col = finding.column {
            // The column is the comma's own; the keyword pairs end just before it.
            let before = String(text.prefix(max(0, col)))
            if let open = before.lastIndex(of: "("), let comma = before.lastIndex(of: ","), open < comma {
                let pairs = before[before.index(after: open)..<comma].trimmingCharacters(in: .whitespaces)
                let fixed = text.replacingCharacters(in: before.index(after: open)..<comma, with: "[\(pairs)]")
                return SyntaxFix(kind: .keywordNotLast, text: "A keyword list (`\(pairs)`) may only be the last argument. Wrap it in brackets:\n\n```elixir\n\(fixed)\n```")
            }
            return SyntaxFix(kind: .keywordNotLast, text: "A keyword list may only be the last argument. Wrap it in brackets (`[key: value]`) or move it to the end:\n\n\(shown)")
        }
        let token = unexpectedToken(m) ?? m.components(separatedBy: "before: ").last ?? ""
        return SyntaxFix(kind: .unexpectedToken, text: "The parser cannot read `\(token)` after what precedes it on line \(line). Look at the code just before the caret:\n\n\(shown)")
    }

    /// The token of `unexpected token: X` (Elixir puts it between the message's prefix and suffix).
    static func unexpectedToken(_ m: String) -> String? {
        guard let r = m.range(of: "unexpected token: ") else { return nil }
        let rest = m[r.upperBound...]
        let token = rest.prefix { $0 != " " && $0 != "." } + (rest.first == "." ? "." : "")
        return token.isEmpty ? nil : String(token)
    }

    /// The parser's hint about the open block, said plainly: the closer it tripped on made it look unclosed.
    static func hintNote(_ m: String) -> String {
        guard let r = m.range(of: ". ", options: [], range: m.range(of: "unexpected token: ").map { $0.upperBound..<m.endIndex }) else { return "" }
        let hint = m[r.upperBound...]
        return hint.isEmpty ? "" : "Elixir also says: \"\(hint)\". That follows from the stray closer; deleting it resolves both."
    }

    static func caret(_ column: Int?) -> String { String(repeating: " ", count: max(0, (column ?? 1) - 1)) + "^" }

    static func partner(_ opener: String) -> String { ["(": ")", "[": "]", "{": "}", "%{": "}", "<<": ">>"][opener] ?? "end" }

    static func deleting(_ text: String, at column: Int?) -> String {
        guard let column, column >= 1, column <= text.count else { return text }
        var chars = Array(text)
        chars.remove(at: column - 1)
        return String(chars)
    }

    static func firstNumber(after marker: String, in m: String) -> Int? {
        guard let r = m.range(of: marker) else { return nil }
        return Int(m[r.upperBound...].prefix { $0.isNumber })
    }

    /// The innermost opener still open before (line, column), when it is not `opener` (which the closer
    /// would close); strings and comments are skipped. nil when the closer's own opener is the one open, or none is.
    static func unclosedOpener(_ code: String, beforeLine line: Int, column: Int, of opener: Character) -> (kind: String, line: Int)? {
        var stack: [(Character, Int)] = []
        var inString: Character?
        var escaped = false
        for (i, text) in code.components(separatedBy: "\n").enumerated() where i + 1 <= line {
            let chars = Array(text)
            let end = i + 1 == line ? min(chars.count, column - 1) : chars.count
            var j = 0
            while j < end {
                let c = chars[j]
                if let q = inString {
                    if escaped { escaped = false } else if c == "\\" { escaped = true } else if c == q { inString = nil }
                } else if c == "\"" || c == "'" {
                    inString = c
                } else if c == "#" {
                    break
                } else if c == "?" {
                    j += 1  // a character literal: ?( is not an opener
                } else if "([{".contains(c) {
                    stack.append((c, i + 1))
                } else if let o = closers[c], stack.last?.0 == o {
                    stack.removeLast()
                }
                j += 1
            }
        }
        guard let top = stack.last, top.0 != opener else { return nil }
        return (String(top.0), top.1)
    }
}
