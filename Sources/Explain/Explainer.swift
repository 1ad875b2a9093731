import Checks
import Engine
import Foundation
import Pipeline
import Serving
import Tokenizer

/// A corrected example for a finding, and whether the checker confirmed it.
public struct FixExample: Sendable, Codable, Equatable {
    public var code: String
    /// Where it came from: `documentation` (the check's page).
    public var origin: String
    /// The checker parsed it and the finding's check did not fire on it.
    public var verified: Bool
    public var note: String
}

/// An explanation of one finding: Markdown with fixed sections, and the parts it was made of.
public struct Explanation: Sendable, Codable {
    public var check: String
    /// The page the finding maps to (syntax errors map to their kind).
    public var page: String?
    public var line: Int
    public var message: String
    public var title: String
    public var category: String?
    public var cwe: String?
    public var snippet: String
    public var sources: [Passage]
    /// The model's text, when it was usable.
    public var modelText: String?
    /// Why the model's text was not used, when it was not.
    public var fallbackReason: String?
    /// The model's rejected text, for inspection.
    public var rejectedText: String?
    public var fix: FixExample?
    /// For a syntax error: the concrete fix, from the parser's hints (delete the stray `)`, add the `end`).
    public var syntaxFix: String?
    /// When the same check was explained earlier in the file: that explanation's line, which this one points back to.
    public var sameAsLine: Int?
    public var markdown: String
    public var seconds: Double
}

/// Explains findings: context, retrieval from the knowledge index, the model's words when they
/// are usable, a verified fix example, assembled as Markdown.
public struct Explainer: Sendable {
    public let index: KnowledgeIndex
    public let pool: CheckerPool
    /// nil: documentation only, no model text.
    public let instance: (any InferenceBackend)?
    public let templates: PromptTemplates
    public var contextLines = 3
    public var maxTokens = 96

    public init(index: KnowledgeIndex, pool: CheckerPool, instance: (any InferenceBackend)?, templates: PromptTemplates) {
        self.index = index
        self.pool = pool
        self.instance = instance
        self.templates = templates
    }

    /// Explains one problem found in `code`.
    /// - Parameter path: the file's path, when known: wording about `lib/` is only kept for files there.
    public func explain(code: String, problem: Finding, path: String? = nil) async throws -> Explanation {
        let start = Date()
        let pageID = Self.pageID(for: problem)
        let page = try index.page(pageID)
        let sources = try index.retrieve(check: pageID, message: problem.message, limit: 4)
        let snippet = Self.snippet(code, line: problem.line, around: contextLines)
        var modelText: String?
        var fallback: String?
        var rejected: String?
        if let instance {
            let text = try await generateText(instance, problem: problem, snippet: snippet, sources: sources)
            switch Self.usability(text, problem: problem, sources: sources) {
            case nil: modelText = text
            case let reason?:
                fallback = reason
                rejected = text
            }
        } else {
            fallback = "no model was used"
        }
        let fix = try await fixExample(page: page, check: problem.check)
        var e = Explanation(check: problem.check, page: page?.id, line: problem.line, message: problem.message, title: page?.title ?? problem.check,
                            category: page?.category, cwe: page?.cwe, snippet: snippet, sources: sources, modelText: modelText,
                            fallbackReason: fallback, rejectedText: rejected, fix: fix, syntaxFix: SyntaxFix.make(code: code, finding: problem)?.text,
                            sameAsLine: nil, markdown: "", seconds: 0)
        e.markdown = try Self.markdown(e, page: page.map { Self.located($0, path: path) }, cweEntry: page?.cwe.flatMap { try? index.cwe($0) })
        e.seconds = Date().timeIntervalSince(start)
        return e
    }

    /// Runs the checks on `code` and explains each finding (or those on `line` / of `check`).
    /// A check found again in the same file points back to its first explanation instead of repeating it.
    public func explainAll(code: String, kind: SourceKind = .code, path: String? = nil, line: Int? = nil, check: String? = nil,
                           progress: @Sendable (String) -> Void = { _ in }) async throws -> [Explanation] {
        let findings = try await pool.findings(in: code, only: nil, kind: kind)
        let chosen = findings.filter { f in (line == nil || f.line == line) && (check == nil || f.check == check || Self.pageID(for: f) == check) }
        var out: [Explanation] = []
        var first: [String: Explanation] = [:]
        for (i, f) in chosen.enumerated() {
            progress("explaining \(i + 1)/\(chosen.count): line \(f.line) \(f.check)")
            if let earlier = first[f.check], f.source != .syntax {
                out.append(Self.repeated(earlier, finding: f, code: code, contextLines: contextLines))
                continue
            }
            let e = try await explain(code: code, problem: f, path: path)
            first[f.check] = e
            out.append(e)
        }
        return out
    }

    /// A short explanation for a repeat: the finding, its snippet, and a pointer to the first one.
    static func repeated(_ earlier: Explanation, finding f: Finding, code: String, contextLines: Int) -> Explanation {
        var e = earlier
        e.line = f.line
        e.message = f.message
        e.snippet = snippet(code, line: f.line, around: contextLines)
        e.sameAsLine = earlier.line
        e.modelText = nil
        e.fallbackReason = nil
        e.rejectedText = nil
        e.seconds = 0
        e.markdown = "## \(e.title)\n\n`\(e.check)` on line \(e.line): the same finding as on line \(earlier.line); see the explanation "
            + "there for why it matters and how to fix it.\n\n> \(f.message.replacingOccurrences(of: "\n", with: " "))\n\n```elixir\n\(e.snippet)\n```\n"
        return e
    }

    /// The page as it applies to a file at `path`: Sobelow's pages say it scans function bodies under
    /// `lib/`; for a file elsewhere (or of unknown place) that wording goes, and a note says what Sobelow would do.
    static func located(_ page: CheckPage, path: String?) -> CheckPage {
        let underLib = path.map { $0.hasPrefix("lib/") || $0.contains("/lib/") } ?? false
        guard !underLib else { return page }
        var p = page
        let pattern = #",? (in|inside) function bodies (under|in) `lib/[^`]*`( \(Mix tasks excluded\))?"#
        for (key, text) in p.sections {
            p.sections[key] = text.replacingOccurrences(of: pattern, with: " in function bodies", options: .regularExpression)
        }
        if page.source == "sobelow", let path, p.sections["What it detects"] != nil {
            p.sections["What it detects"]! += " `mix sobelow` itself only scans `lib/**/*.ex` (and `config/`), so it would not report this in `\(path)`; ElixirCoder checks every file."
        }
        return p
    }

    /// The page a problem maps to: its check id, or the syntax-error kind its message names.
    public static func pageID(for p: Finding) -> String {
        guard p.check.hasPrefix("SyntaxError") else { return p.check }
        let m = p.message
        if m.contains("missing terminator") {
            if let r = m.range(of: "missing terminator: ") {
                let term = m[r.upperBound...].prefix { $0 != " " }
                if ["\"", "'", "\"\"\"", "'''"].contains(String(term)) || m.contains("sigil") || m.contains("heredoc") { return "SyntaxError.UnterminatedString" }
            }
            return m.contains("unexpected token") ? "SyntaxError.MismatchedDelimiter" : "SyntaxError.MissingTerminator"
        }
        if m.contains("unexpected reserved word: end") || m.contains("before: '->'") || m.contains("unexpected end") { return "SyntaxError.UnexpectedEnd" }
        if m.contains("unexpected token") || m.contains("invalid") { return "SyntaxError.InvalidToken" }
        return "SyntaxError.UnexpectedToken"
    }

    /// The lines around `line`, the finding's line marked with a trailing comment.
    public static func snippet(_ code: String, line: Int, around n: Int) -> String {
        var lines = code.components(separatedBy: "\n")
        while lines.count > 1, lines.last?.trimmingCharacters(in: .whitespaces).isEmpty == true { lines.removeLast() }
        guard !lines.isEmpty else { return "" }
        let target = min(max(1, line), lines.count)
        let range = max(1, target - n)...min(lines.count, target + n)
        return range.map { i in i == target ? lines[i - 1] + "  # <- line \(i)" : lines[i - 1] }.joined(separator: "\n")
    }

    private func generateText(_ instance: any InferenceBackend, problem: Finding, snippet: String, sources: [Passage]) async throws -> String {
        let user = templates.render("explain", [
            "passages": sources.prefix(2).map { ["title": $0.title, "text": String($0.text.prefix(600))] },
            "snippet": snippet, "line": problem.line, "check": problem.check, "message": problem.message,
        ])
        // The answer is prefilled so the model starts explaining instead of listing or coding.
        let lead = "This matters because"
        let prompt = ChatTemplate.forModel(instance.tokenizer.chatTemplate).render([.system(templates.render("system", [:])), .user(user)]) + lead
        var s = SamplingParameters()
        s.temperature = 0.3
        s.seed = 7
        s.repetitionPenalty = 1.15
        let request = GenerationRequest(prompt: instance.tokenizer.encode(prompt, parseSpecial: true), maxTokens: maxTokens, sampling: s, stop: ["```", "\n\n\n"])
        return Self.completeSentences(lead + (try await instance.generate([request])[0].text))
    }

    /// Drops a sentence the token limit cut off.
    static func completeSentences(_ text: String) -> String {
        var lines = text.trimmingCharacters(in: .whitespacesAndNewlines).components(separatedBy: "\n")
        // A list the limit cut after its number ("2.") is not a sentence.
        while let l = lines.last, l.trimmingCharacters(in: .whitespaces).allSatisfy({ $0.isNumber || $0 == "." || $0 == "-" }) { lines.removeLast() }
        let t = lines.joined(separator: "\n").trimmingCharacters(in: .whitespacesAndNewlines)
        guard let last = t.lastIndex(where: { ".!?".contains($0) }) else { return t }
        return String(t[...last])
    }

    /// nil when the text can be shown; otherwise why not (empty, too short, repetitive, off-topic).
    public static func usability(_ text: String, problem: Finding, sources: [Passage]) -> String? {
        let words = text.lowercased().split { !$0.isLetter && !$0.isNumber && $0 != "_" }.map(String.init)
        if words.isEmpty { return "the model's text was empty" }
        if words.count < 8 { return "the model's text was too short" }
        if words.count >= 12 {
            let trigrams = (0..<(words.count - 2)).map { words[$0..<($0 + 3)].joined(separator: " ") }
            if Double(Set(trigrams).count) / Double(trigrams.count) < 0.6 { return "the model's text repeated itself" }
        }
        let reference = Set((sources.map { $0.title + " " + $0.text }.joined(separator: " ") + " " + problem.message + " " + problem.check)
            .lowercased().split { !$0.isLetter }.map(String.init).filter { $0.count > 4 })
        let shared = Set(words.filter { $0.count > 4 }).intersection(reference)
        // It must also name something of the finding itself, not only of the neighbours.
        let own = Set((problem.message + " " + problem.check + " " + (sources.first?.title ?? "")).lowercased()
            .split { !$0.isLetter && $0 != "_" }.map(String.init).filter { $0.count > 3 })
        if shared.count < 2 || Set(words).intersection(own).isEmpty { return "the model's text was off-topic" }
        return nil
    }

    /// The page's corrected example, re-checked now: it must parse and not trigger `check`.
    func fixExample(page: CheckPage?, check: String) async throws -> FixExample? {
        guard let page, let good = page.goodExample else { return nil }
        let kind: SourceKind = page.id.hasPrefix("Config.") && good.contains("import Config") ? .config : .code
        let report = try await pool.report(.all, good, kind: kind)
        let parses = report.syntax.status == .ok
        let fires = (report.findings ?? []).contains { $0.check == check || $0.check == page.id }
        let verified = parses && !fires
        let note = verified ? "Checked by ElixirCoder: this example parses and does not trigger `\(page.id)`."
            : parses ? "Warning: the checker still reports `\(page.id)` on this example." : "Warning: this example did not parse."
        return FixExample(code: good, origin: "documentation", verified: verified, note: note)
    }

    static func markdown(_ e: Explanation, page: CheckPage?, cweEntry: CWEEntry?) throws -> String {
        var md = "## \(e.title)\n\n"
        md += "`\(e.check)` on line \(e.line)" + (e.category.map { ", category \($0)" } ?? "") + (e.cwe.map { ", \($0)" } ?? "") + ".\n\n"
        md += "> \(e.message.replacingOccurrences(of: "\n", with: " "))\n\n"
        md += "### What\n\n" + (page?.what ?? e.message) + "\n\n"
        md += "```elixir\n\(e.snippet)\n```\n\n"
        md += "### Why it matters\n\n"
        if let text = e.modelText {
            md += text + "\n\n"
            if let why = page?.why { md += "From the documentation: " + why + "\n\n" }
        } else {
            md += (page?.why ?? "No documentation is indexed for this check.") + "\n\n"
            if let reason = e.fallbackReason { md += "_This section is the reference documentation: \(reason)._\n\n" }
        }
        if let c = cweEntry { md += "This is [\(c.id): \(c.name)](\(cweURL(c.id))): \(c.description)\n\n" }
        if let fix = e.syntaxFix {
            md += "### How to fix\n\n" + fix + "\n\n" + (page.map { "In general: " + $0.howToFix + "\n\n" } ?? "")
        } else {
            md += "### How to fix\n\n" + (page?.howToFix ?? "See the sources below.") + "\n\n"
        }
        if let fix = e.fix { md += "```elixir\n\(fix.code.trimmingCharacters(in: .newlines))\n```\n\n\(fix.note)\n\n" }
        md += "### Sources\n\n"
        for s in e.sources {
            if s.kind == "cwe", let id = s.id { md += "- [\(id): \(s.title)](\(cweURL(id))) (MITRE CWE 4.14)\n" }
            else if s.kind == "check" { md += "- [\(s.title)](\(s.source))\n" }
            else { md += "- \(s.title) (\(s.source))\n" }
        }
        return md
    }

    static func cweURL(_ id: String) -> String {
        "https://cwe.mitre.org/data/definitions/\(id.dropFirst(4)).html"
    }
}
