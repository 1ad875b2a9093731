import Checks
import ElixirCoderCore
import Engine
import Explain
import Foundation
import Ink
import Pipeline
import Serving
import TestSupport
import Testing

/// The knowledge index and explanations, on the real pages, the real CWE data, real SQLite and the real model.
@Suite("Explanations", .serialized)
struct ExplainTests {
    static let pagesRoot = TestPaths.repo.appendingPathComponent("rag-index")
    static let cweFile: URL = {
        let env = ProcessInfo.processInfo.environment
        let home = env["ELIXIR_CODER_HOME"] ?? (NSHomeDirectory() + "/.cache/elixir-coder")
        return URL(fileURLWithPath: home + "/data/cwec_v4.14.xml")
    }()
    static let indexPath = FileManager.default.temporaryDirectory.appendingPathComponent("ec-index-\(UUID().uuidString)/knowledge.sqlite").path
    static let index: KnowledgeIndex = try! KnowledgeIndex(path: indexPath, sources: KnowledgeSources(pages: pagesRoot, cwe: cweFile))
    static let pool = try! CheckerPool(size: 1)
    static let templates = try! PromptTemplates(directory: TestPaths.repo.appendingPathComponent("templates"))
    static func catalog() throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(contentsOf: TestPaths.fixtures.appendingPathComponent("elixir-tools/catalog.json"))) as! [String: Any]
    }

    @Test("every check the tool can report has a well-formed page, and related links resolve")
    func pagesCoverEveryCheck() throws {
        let pages = try CheckPage.loadAll(from: Self.pagesRoot)
        let ids = Set(pages.map(\.id))
        let catalog = try Self.catalog()
        let credo = (((catalog["credo"] as! [String: Any])["enabled"]) as! [[String: Any]]).map { $0["name"] as! String }
        let sobelow = (((catalog["sobelow"] as! [String: Any])["finding_types"]) as! [[String: Any]]).map { $0["module"] as! String }
        let builtin = ["ElixirCoder.NoModule", "ElixirCoder.NoFunction", "Formatter"]
        let syntax = ["MissingTerminator", "UnexpectedToken", "MismatchedDelimiter", "UnterminatedString", "InvalidToken", "UnexpectedEnd"].map { "SyntaxError." + $0 }
        for id in credo + sobelow + builtin + syntax { #expect(ids.contains(id), "no page for \(id)") }
        // The checker's own rules: every id it can emit (read from its source) has a page.
        let resources = TestPaths.repo.appendingPathComponent("Sources/Checks/Resources")
        let script = try String(contentsOf: resources.appendingPathComponent("checker.exs"), encoding: .utf8)
        let credoRules = try String(contentsOf: resources.appendingPathComponent("credo_rules.exs"), encoding: .utf8)
        let emitted = credoRules.matches(of: /issue\("([A-Za-z.]+)"/).map { "Credo.Check." + $0.1 } + script.matches(of: /sobelow\("([A-Za-z.]+)"/).map { String($0.1) }
        #expect(emitted.count > 30)
        for id in emitted where !id.contains("#{") { #expect(ids.contains(id), "the checker reports \(id) but it has no page") }
        for p in pages {
            #expect(!p.what.isEmpty && !p.why.isEmpty && !p.howToFix.isEmpty, "\(p.path) lacks a section")
            #expect(p.goodExample != nil && p.badExample != nil, "\(p.path) lacks an example")
            for r in p.related { #expect(ids.contains(r), "\(p.path) relates to \(r), which has no page") }
            #expect(p.path.hasSuffix("/\(p.id).md"), "\(p.path) is not named after its id")
        }
    }

    @Test("the real CWE catalogue loads with names, descriptions, consequences and mitigations")
    func cweCatalogue() throws {
        let entries = try CWECatalog.load(Self.cweFile)
        #expect(entries.count > 900)
        let e400 = try #require(entries.first { $0.id == "CWE-400" })
        #expect(e400.name == "Uncontrolled Resource Consumption")
        #expect(e400.description.hasPrefix("The product does not properly control the allocation"))
        #expect(!e400.consequences.isEmpty && !e400.mitigations.isEmpty)
        #expect(throws: ExplainError.self) { try CWECatalog.load(Self.pagesRoot.appendingPathComponent("credo/Credo.Check.Readability.ModuleDoc.md")) }
    }

    @Test("retrieval puts a finding's own page first and its CWE second; BM25 finds neighbours")
    func retrieval() throws {
        let (pages, cwes) = try Self.index.counts()
        #expect(pages >= 109 && cwes > 900)
        let hits = try Self.index.retrieve(check: "DOS.StringToAtom", message: "Unsafe `String.to_atom`", limit: 5)
        #expect(hits.map(\.id).prefix(2) == ["DOS.StringToAtom", "CWE-400"])
        #expect(hits.dropFirst(2).contains { $0.id == "DOS.ListToAtom" || $0.id == "DOS.BinToAtom" }, "related atom checks come next")
        let search = try Self.index.search("cross-site scripting in HTML responses", limit: 5)
        #expect(search.contains { ($0.id ?? "").hasPrefix("XSS.") })
        #expect(try Self.index.ontology("Traversal.FileModule")?.cwe == "CWE-22")
        #expect(try Self.index.search("", limit: 3).isEmpty)
    }

    @Test("the index is rebuilt when a page changes, and not otherwise")
    func rebuildOnChange() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ec-pages-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("builtin"), withIntermediateDirectories: true)
        let page = Self.pagesRoot.appendingPathComponent("builtin/Formatter.md")
        try FileManager.default.copyItem(at: page, to: dir.appendingPathComponent("builtin/Formatter.md"))
        let path = dir.appendingPathComponent("idx.sqlite").path
        var messages: [String] = []
        _ = try KnowledgeIndex(path: path, sources: KnowledgeSources(pages: dir, cwe: Self.cweFile), progress: { messages.append($0) })
        _ = try KnowledgeIndex(path: path, sources: KnowledgeSources(pages: dir, cwe: Self.cweFile), progress: { messages.append($0) })
        #expect(messages.filter { $0.hasPrefix("building") }.count == 1)
        let text = try String(contentsOf: page, encoding: .utf8).replacingOccurrences(of: "Code that mix format would change", with: "Unformatted code")
        try text.write(to: dir.appendingPathComponent("builtin/Formatter.md"), atomically: true, encoding: .utf8)
        let again = try KnowledgeIndex(path: path, sources: KnowledgeSources(pages: dir, cwe: Self.cweFile), progress: { messages.append($0) })
        #expect(messages.filter { $0.hasPrefix("building") }.count == 2)
        #expect(try again.page("Formatter")?.title == "Unformatted code")
    }

    @Test("syntax errors map to their kind's page")
    func syntaxKinds() {
        func kind(_ m: String) -> String { Explainer.pageID(for: Finding(source: .syntax, check: "SyntaxError", line: 1, message: m)) }
        #expect(kind("missing terminator: end (for \"do\" starting at line 1)") == "SyntaxError.MissingTerminator")
        #expect(kind("missing terminator: \" (for string starting at line 5)") == "SyntaxError.UnterminatedString")
        #expect(kind("unexpected token: ). The \"[\" at line 5 is missing terminator \"]\"") == "SyntaxError.MismatchedDelimiter")
        #expect(kind("unexpected reserved word: end") == "SyntaxError.UnexpectedEnd")
        #expect(kind("syntax error before: \"age\"") == "SyntaxError.UnexpectedToken")
        #expect(kind("unexpected token: \":\" (column 16, code point U+003A)") == "SyntaxError.InvalidToken")
        #expect(Explainer.pageID(for: Finding(source: .credo, check: "Credo.Check.Warning.IoInspect", line: 1, message: "")) == "Credo.Check.Warning.IoInspect")
    }

    @Test("usable model text is kept; empty, repetitive or off-topic text is rejected")
    func usability() {
        let p = Finding(source: .sobelow, check: "DOS.StringToAtom", line: 3, message: "Unsafe `String.to_atom`")
        let sources = [Passage(source: "x", title: "Atom creation from untrusted strings", text: "Atoms are never garbage collected; the atom table fills up.", score: 1)]
        #expect(Explainer.usability("This matters because atoms created from user input are never garbage collected, so the atom table fills up and the node crashes.", problem: p, sources: sources) == nil)
        #expect(Explainer.usability("", problem: p, sources: sources) == "the model's text was empty")
        #expect(Explainer.usability(String(repeating: "the atom table fills up again ", count: 8), problem: p, sources: sources) == "the model's text repeated itself")
        #expect(Explainer.usability("This matters because the weather in Lisbon is pleasant in spring and the food is good.", problem: p, sources: sources) == "the model's text was off-topic")
    }

    @Test("an explanation without the model: fixed sections, a verified fix, sources; well-formed Markdown")
    func documentationOnly() async throws {
        let code = "defmodule Shop do\n  @moduledoc \"Shop.\"\n  def sort(param) do\n    String.to_atom(param)\n  end\nend\n"
        let explainer = Explainer(index: Self.index, pool: Self.pool, instance: nil, templates: Self.templates)
        let all = try await explainer.explainAll(code: code)
        let e = try #require(all.first { $0.check == "DOS.StringToAtom" })
        #expect(e.line == 4)
        #expect(e.snippet.contains("String.to_atom(param)  # <- line 4"))
        #expect(e.fallbackReason == "no model was used")
        #expect(e.fix?.verified == true && e.fix?.origin == "documentation")
        #expect(e.sources.first?.id == "DOS.StringToAtom" && e.sources.dropFirst().first?.id == "CWE-400")
        try Self.expectWellFormed(e.markdown)
        #expect(e.markdown.contains("_This section is the reference documentation: no model was used._"))
    }

    @Test("with the real model: every finding of a file explained, model text used or replaced with a reason")
    func withModel() async throws {
        var s = InstanceSettings(name: "explain-test")
        s.kernels = .exact
        let instance = ModelInstance(model: Shared.model, tokenizer: Shared.tokenizer, settings: s)
        defer { instance.shutdown() }
        let explainer = Explainer(index: Self.index, pool: Self.pool, instance: instance, templates: Self.templates)
        let code = "defmodule Shop do\n  def sort(param) do\n    IO.inspect(param)\n    String.to_atom(param)\n  end\nend\n"
        let all = try await explainer.explainAll(code: code)
        #expect(Set(all.map(\.check)) == ["Credo.Check.Readability.ModuleDoc", "Credo.Check.Warning.IoInspect", "DOS.StringToAtom"])
        for e in all {
            #expect((e.modelText != nil) != (e.fallbackReason != nil), "either the model's text or a reason it was not used")
            if let t = e.modelText { #expect(t.hasPrefix("This matters because") && e.markdown.contains(t)) }
            #expect(e.fix?.verified == true)
            try Self.expectWellFormed(e.markdown)
        }
        let broken = try await explainer.explainAll(code: "defmodule A do\n  def f(x) do\n    x +\nend\n")
        #expect(broken.first?.page == "SyntaxError.MissingTerminator")
    }

    @Test("each syntax error of the fixtures gets the fix its kind needs, from the parser's hints: the stray `)` deleted, the heredoc closed, the map key, the keyword list")
    func syntaxFixes() async throws {
        let expected: [(String, SyntaxFix.Kind, String)] = [
            ("s02_unexpected_token.ex", .strayCloser, "    IO.puts(\"hello\")\n"),
            ("s06_unclosed_heredoc.ex", .unterminatedString, "heredoc opened on line 2"),
            ("s07_bad_map_syntax.ex", .mixedMapKeys, "`name: value` (an atom key) or `:name => value`"),
            ("s08_keyword_not_last.ex", .keywordNotLast, "Keyword.merge([a: 1], [b: 2])"),
        ]
        let explainer = Explainer(index: Self.index, pool: Self.pool, instance: nil, templates: Self.templates)
        for (file, kind, fragment) in expected {
            let code = try String(contentsOf: TestPaths.fixtures.appendingPathComponent("elixir-tools/snippets/\(file)"), encoding: .utf8)
            let finding = try #require(try await Self.pool.findings(in: code).first { $0.source == .syntax })
            let fix = try #require(SyntaxFix.make(code: code, finding: finding))
            #expect(fix.kind == kind, "\(file)")
            #expect(fix.text.contains(fragment), "\(file): \(fix.text)")
            let e = try #require(try await explainer.explainAll(code: code).first)
            #expect(e.syntaxFix == fix.text && e.markdown.contains(fix.text))
            try Self.expectWellFormed(e.markdown)
        }
        let mismatched = try #require(try await Self.pool.findings(in: "x = [1, 2)\n").first)
        let stray = try #require(SyntaxFix.make(code: "x = [1, 2)\n", finding: mismatched))
        #expect(stray.kind == .mismatchedCloser && stray.text.contains("Close the `[`"))
    }

    @Test("a check found again in the same file points back to its first explanation instead of repeating it")
    func repeatedFindings() async throws {
        let code = "defmodule Shop do\n  @moduledoc \"Shop.\"\n  def a(x), do: IO.inspect(x)\n  def b(x), do: IO.inspect(x)\nend\n"
        let explainer = Explainer(index: Self.index, pool: Self.pool, instance: nil, templates: Self.templates)
        let all = try await explainer.explainAll(code: code)
        #expect(all.map(\.line) == [3, 4])
        #expect(all[0].sameAsLine == nil && all[1].sameAsLine == 3)
        #expect(all[1].markdown.contains("the same finding as on line 3") && all[1].markdown.contains("IO.inspect(x)  # <- line 4"))
        #expect(!all[1].markdown.contains("### Why it matters"), "not repeated word for word")
    }

    @Test("Sobelow's `lib/` wording is kept only for files under lib/")
    func pathWording() async throws {
        let code = "defmodule Shop do\n  @moduledoc \"Shop.\"\n  def sort(param), do: String.to_atom(param)\nend\n"
        let explainer = Explainer(index: Self.index, pool: Self.pool, instance: nil, templates: Self.templates)
        let unknown = try #require(try await explainer.explainAll(code: code).first { $0.check == "DOS.StringToAtom" })
        #expect(!unknown.markdown.contains("lib/"), "a file of unknown place")
        let elsewhere = try #require(try await explainer.explainAll(code: code, path: "scripts/shop.ex").first { $0.check == "DOS.StringToAtom" })
        #expect(elsewhere.markdown.contains("would not report this in `scripts/shop.ex`"))
        let inLib = try #require(try await explainer.explainAll(code: code, path: "lib/shop.ex").first { $0.check == "DOS.StringToAtom" })
        #expect(inLib.markdown.contains("`lib/**/*.ex`"))
    }

    /// Parses with Ink: the four sections as headings, fenced Elixir with a language class, links.
    static func expectWellFormed(_ markdown: String) throws {
        let html = MarkdownParser().html(from: markdown)
        for heading in ["What", "Why it matters", "How to fix", "Sources"] { #expect(html.contains("<h3>\(heading)</h3>"), "missing \(heading)") }
        #expect(html.hasPrefix("<h2>"))
        #expect(html.components(separatedBy: "<pre><code class=\"language-elixir\">").count >= 3, "snippet and fix are fenced Elixir")
        #expect(html.contains("<a href=\"rag-index/"))
        #expect(!html.contains("```"), "no fence left unparsed")
    }
}
