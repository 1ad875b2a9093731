import Foundation
import Pipeline

/// A multi-line `def`/`defp` in a document: where its body starts and ends, for filling a stub
/// ("Implement") or rewriting a body ("Fix") in place. Lines are 0-based.
public struct FunctionSite: Sendable, Equatable {
    /// The `def name(args) do` line.
    public var defLine: Int
    /// The line of the `end` that closes it (same indentation as the `def`).
    public var endLine: Int
    public var name: String
    public var indent: String
    /// The `def` line's text.
    public var head: String

    private static let defPattern = #"^(\s*)defp?\s+([a-z_][A-Za-z0-9_]*[?!]?)(\(.*\))?(\s+when\s+.*)?\s+do\s*$"#

    /// The function whose lines hold `line`: the nearest `def ... do` at or above it whose `end`
    /// is at or below it; nil when `line` is in no multi-line function.
    public static func enclosing(_ line: Int, in lines: [String]) -> FunctionSite? {
        guard line >= 0, line < lines.count else { return nil }
        for d in stride(from: line, through: 0, by: -1) {
            guard let site = at(d, in: lines) else { continue }
            if site.endLine >= line { return site }
        }
        return nil
    }

    /// The function whose `def` is on line `d`, if one is.
    public static func at(_ d: Int, in lines: [String]) -> FunctionSite? {
        let text = lines[d]
        guard let m = try? NSRegularExpression(pattern: defPattern).firstMatch(in: text, range: NSRange(text.startIndex..., in: text)),
              let indentRange = Range(m.range(at: 1), in: text), let nameRange = Range(m.range(at: 2), in: text) else { return nil }
        let indent = String(text[indentRange])
        guard let end = lines[(d + 1)...].firstIndex(where: { $0 == indent + "end" || $0.trimmingCharacters(in: .whitespaces) == "end" && $0.hasPrefix(indent) && !$0.hasPrefix(indent + " ") }) else { return nil }
        return FunctionSite(defLine: d, endLine: end, name: String(text[nameRange]), indent: indent, head: text)
    }

    /// Whether the body is empty or only comments: a stub stub mode fills.
    public func isStub(in lines: [String]) -> Bool {
        lines[(defLine + 1)..<endLine].allSatisfy { let t = $0.trimmingCharacters(in: .whitespaces); return t.isEmpty || t.hasPrefix("#") }
    }

    /// The body lines.
    public func body(in lines: [String]) -> [String] { Array(lines[(defLine + 1)..<endLine]) }

    /// The document with this function's body replaced by `# TODO` and every stub above it given
    /// a placeholder body: stub mode fills the first stub of its context, and this must be it.
    public func stubContext(in lines: [String]) -> String {
        var out = lines
        out.replaceSubrange((defLine + 1)..<endLine, with: [indent + "  # TODO"])
        for d in stride(from: defLine - 1, through: 0, by: -1) {
            if let other = Self.at(d, in: out), other.isStub(in: out) {
                out.replaceSubrange((other.defLine + 1)..<other.endLine, with: [other.indent + "  nil"])
            }
        }
        return out.joined(separator: "\n")
    }

    /// The body of this function in `code` (generated from `stubContext`, maybe reformatted):
    /// the lines between the same `def` line and its `end`; nil when the function is not there.
    public func body(inGenerated code: String) -> [String]? {
        let lines = code.components(separatedBy: "\n")
        let want = head.trimmingCharacters(in: .whitespaces)
        for (i, l) in lines.enumerated() where l.trimmingCharacters(in: .whitespaces) == want {
            guard let site = Self.at(i, in: lines) else { continue }
            return site.body(in: lines)
        }
        return nil
    }

    /// What the task says for stub mode: the function to write, in its module, with its `@doc`
    /// and the comments above it (so `iex>` examples there become the examples that are run).
    public func implementTask(in lines: [String]) -> String {
        let module = lines[..<defLine].reversed().lazy.compactMap { l -> String? in
            guard let r = l.range(of: #"^\s*defmodule\s+([A-Z][\w.]*)"#, options: .regularExpression) else { return nil }
            return String(l[r]).trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "defmodule", with: "").trimmingCharacters(in: .whitespaces)
        }.first
        let signature = head.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: #"^defp?\s+"#, with: "", options: .regularExpression)
            .replacingOccurrences(of: #"\s+do$"#, with: "", options: .regularExpression)
        var task = "Implement `\(signature)`" + (module.map { " in the `\($0)` module below." } ?? ".")
        let doc = documentation(in: lines)
        if !doc.isEmpty { task += " " + doc }
        return task
    }

    /// The `@doc` text (heredoc or one-line string) and `#` comments right above the `def`.
    func documentation(in lines: [String]) -> String {
        var i = defLine - 1
        var found: [String] = []
        while i >= 0 {
            let t = lines[i].trimmingCharacters(in: .whitespaces)
            if t.hasPrefix("#") || t.hasPrefix("@spec") {
                if t.hasPrefix("#") { found.insert(String(t.drop { $0 == "#" }).trimmingCharacters(in: .whitespaces), at: 0) }
                i -= 1
            } else if t == "\"\"\"" {
                // A heredoc's end: take it up to its `@doc """`.
                var j = i - 1
                var text: [String] = []
                while j >= 0, !lines[j].trimmingCharacters(in: .whitespaces).hasPrefix("@doc") {
                    text.insert(lines[j].trimmingCharacters(in: .whitespaces), at: 0)
                    j -= 1
                }
                found.insert(text.joined(separator: "\n"), at: 0)
                break
            } else if t.hasPrefix("@doc \"") {
                found.insert(String(t.dropFirst(6).dropLast()), at: 0)
                break
            } else {
                break
            }
        }
        return found.joined(separator: "\n").trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
