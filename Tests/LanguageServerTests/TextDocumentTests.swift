import Checks
import LanguageServer
import Testing

@Suite("LSP documents: UTF-16 positions, incremental edits, ranges of findings")
struct TextDocumentTests {
    @Test("an edit after non-ASCII text lands where UTF-16 columns say (é is 1 unit, 😀 is 2)")
    func utf16Edit() {
        var d = TextDocument(uri: "file:///a.ex", version: 1, text: "s = \"é😀\" <> x\nnext\n")
        // `x` is at UTF-16 column 13: s,space,=,space,",é,😀(2 units),",space,<,>,space.
        d.apply(range: TextRange(start: Position(line: 0, character: 13), end: Position(line: 0, character: 14)), text: "y")
        #expect(d.text == "s = \"é😀\" <> y\nnext\n")
        // Inside the surrogate pair (character 7) moves to the pair's start, never splitting it.
        d.apply(range: TextRange(start: Position(line: 0, character: 7), end: Position(line: 0, character: 7)), text: "+")
        #expect(d.text == "s = \"é+😀\" <> y\nnext\n")
    }

    @Test("positions past the end of a line or of the text are clamped as LSP says")
    func clamping() {
        var d = TextDocument(uri: "file:///a.ex", version: 1, text: "ab\ncd")
        d.apply(range: TextRange(start: Position(line: 0, character: 99), end: Position(line: 0, character: 120)), text: "!")
        #expect(d.text == "ab!\ncd")
        d.apply(range: TextRange(start: Position(line: 9, character: 0), end: Position(line: 12, character: 3)), text: "?")
        #expect(d.text == "ab!\ncd?")
        #expect(d.lineCount == 2)
    }

    @Test("a multi-line replacement and deletions keep the line index right")
    func multiLine() {
        var d = TextDocument(uri: "file:///a.ex", version: 1, text: "one\ntwo\nthree\n")
        d.apply(range: TextRange(start: Position(line: 0, character: 1), end: Position(line: 2, character: 2)), text: "X\nY")
        #expect(d.text == "oX\nYree\n")
        #expect(d.line(1) == "Yree")
        #expect(d.lineCount == 3)
    }

    @Test("a finding's column (characters) becomes a UTF-16 range over the word it points at")
    func findingRange() {
        let d = TextDocument(uri: "file:///a.ex", version: 1, text: "  # é😀\n  x = String.to_atom(name)\n")
        let r = d.range(line: 2, column: 7)
        #expect(r == TextRange(start: Position(line: 1, character: 6), end: Position(line: 1, character: 20)))
        let whole = d.range(line: 1, column: nil)
        #expect(whole == TextRange(start: Position(line: 0, character: 2), end: Position(line: 0, character: 7)))
        // After non-ASCII: column 6 (the emoji, 5 characters in) starts at UTF-16 unit 5 and spans 2 units.
        #expect(d.range(line: 1, column: 6) == TextRange(start: Position(line: 0, character: 5), end: Position(line: 0, character: 7)))
        // A line past the end is clamped to the last line.
        #expect(d.range(line: 99, column: nil).start.line == 2)
    }

    @Test("severities: compiler warnings, Sobelow by confidence, the formatter a hint")
    func severities() {
        #expect(Finding(source: .compiler, check: "Compiler.UnusedVariable", line: 1, message: "warning: x is unused").diagnosticSeverity == .warning)
        #expect(Finding(source: .compiler, check: "Compiler.UndefinedFunction", line: 1, message: "undefined").diagnosticSeverity == .error)
        #expect(Finding(source: .sobelow, check: "DOS.StringToAtom", confidence: "low", line: 1, message: "m").diagnosticSeverity == .information)
        #expect(Finding(source: .sobelow, check: "RCE.CodeModule", confidence: "high", line: 1, message: "m").diagnosticSeverity == .error)
        #expect(Finding(source: .format, check: "Formatter", line: 1, message: "m").diagnosticSeverity == .hint)
    }
}

@Suite("LSP function sites: stubs, bodies, the task Implement sends")
struct FunctionSiteTests {
    let file = """
    defmodule AgeSort do
      @doc \"\"\"
      Sorts people by age, then by name.

          iex> AgeSort.sort_by_age([{"Zoe", 30}, {"Adam", 25}])
          [{"Adam", 25}, {"Zoe", 30}]
      \"\"\"
      def sort_by_age(people) do
        # TODO
      end

      def other(x) do
      end
    end
    """

    @Test("the stub around a line, its task with the @doc, and a context where it is the first stub")
    func stub() throws {
        let lines = file.components(separatedBy: "\n")
        let site = try #require(FunctionSite.enclosing(8, in: lines))
        #expect(site.defLine == 7 && site.endLine == 9 && site.name == "sort_by_age")
        #expect(site.isStub(in: lines))
        let task = site.implementTask(in: lines)
        #expect(task.hasPrefix("Implement `sort_by_age(people)` in the `AgeSort` module below."))
        #expect(task.contains("iex> AgeSort.sort_by_age([{\"Zoe\", 30}, {\"Adam\", 25}])"))
        let other = try #require(FunctionSite.enclosing(12, in: lines))
        #expect(other.name == "other")
        // Filling `other`, the earlier stub gets a placeholder body so stub mode picks `other`.
        let context = other.stubContext(in: lines)
        #expect(context.contains("def sort_by_age(people) do\n    nil\n  end"))
        #expect(context.contains("def other(x) do\n    # TODO\n  end"))
        let generated = context.replacingOccurrences(of: "def other(x) do\n    # TODO", with: "def other(x) do\n    x + 1")
        #expect(other.body(inGenerated: generated) == ["    x + 1"])
        #expect(FunctionSite.enclosing(0, in: lines) == nil)
    }
}
