import Checks
import Foundation
import Grammar
import Testing

/// The compiled Elixir grammar, shared by the suite (compiling is the slow part).
enum Compiled {
    static let text: String = try! GrammarStore.text(named: "elixir")
    static let grammar: CompiledGrammar = try! GrammarCompiler.compile(text)

    static func state(_ s: String) -> GrammarState? {
        var st = GrammarState(grammar)
        return st.feed(Array(s.utf8), grammar) ? st : nil
    }
    static func complete(_ s: String) -> Bool { state(s)?.canEnd(grammar) ?? false }
}

@Suite("Grammar: lexical corner cases")
struct GrammarLexicalTests {
    /// Complete programs the grammar must accept as finished.
    static let valid: [String] = [
        "x = 1",
        "defmodule Math do\n  def add(a, b) do\n    a + b\n  end\nend\n",
        "~s(hello)", "~s[hello]", "~s{hello}", "~s<hello>", "~s/hello/", "~s|hello|", "~s\"hello\"", "~s'hello'",
        "~r/a+b/i", "~w(a b c)a", "~S(no #{interp)", "~D[2024-01-01]", "~r{a(b}x", "~s(esc \\) paren)",
        "~s\"\"\"\nheredoc sigil\n\"\"\"", "~H\"\"\"\n<div>#{x}</div>\n\"\"\"",
        "@moduledoc \"\"\"\nDocs with \"quotes\" and #{x}.\n\"\"\"\n",
        "x = '''\ncharlist heredoc\n'''",
        "\"outer #{\"inner #{deep} text\"} done\"",
        "\"a #{ %{b: \"c #{d}\"} } e\"",
        "?a", "?\\n", "?)", "[?a, ?b]",
        "[a: 1, b: 2]", "foo(x, key: :value)", "%{\"k\" => 1, k2: 2}", "%User{name: \"x\"}", "%{m | a: 1}",
        "x |> Enum.map(&(&1 * 2)) |> Enum.sum()",
        "\"a\" <> \"b\"", "x =~ ~r/foo/", "def f(a, b \\\\ 2), do: a + b",
        "<<a::8, rest::binary>>", "1..10", "for x <- 1..3, do: x * 2",
        "fn x -> x end", "fn -> :ok end", "fn {a, b} -> a; _ -> nil end",
        "case x do\n  {:ok, v} -> v\n  _ -> nil\nend",
        "if x do\n  1\nelse\n  2\nend", "try do\n  f()\nrescue\n  e in RuntimeError -> e\nafter\n  g()\nend",
        "x\n|> foo()\n|> bar()", "@spec add(integer, integer) :: integer", "@type t :: %__MODULE__{a: String.t()}",
        "1_000_000 + 0x1F + 0b1010 + 0o17 + 1.5e-3", ":\"quoted atom\"", ":ok", ":+", "'charlist #{x}'",
        "[\"key\": 1]", "x # comment\n", "alias Foo.{Bar, Baz}", "String.to_integer(\"1\")", "\"\"", "''",
        "with {:ok, a} <- f(),\n     {:ok, b} <- g(a) do\n  a + b\nend",
        "not x and y or z", "x not in [1, 2]", "-x", "^pin = 1", "@attr 1",
        // Keyword pairs last, after a comma or as the first argument of a call without parentheses.
        "{1, a: 1}", "foo 1, \"a\": 2", "[\"a\": b]", "%{m | a: 1, b: 2}", "if x, do: 1, else: 2",
        "foo a: 1, b: 2", "foo(bar a: 1)", "[a:\n 1]", "raise ArgumentError, message: \"x\"",
        // Line breaks: after commas and before most operators, `+`/`-` starting a line are unary.
        "[1,\n -2]", "x = 1\n+ 2", "%{a\n => b}", "[\n 1,\n 2,\n]", "foo -1, 2", "foo - 1",
        "def f(x) when x > 0 do\n  1\nend", "foo x, y do\n  1\nend", "x = do_it", "x = end_",
        "x = - # minus\n  1", "foo(&\n  bar/1)",
    ]

    /// Texts that can never become valid (the grammar must reject them at some byte).
    static let dead: [String] = [
        "def foo(x):\n", "x +)", "foo(,)", "[1, 2)", "if x do\n  1\n)", "end\n", "x = 1 end\n",
        "~s(a) b)", "\"\"\"x\"\"\"", "def f(x) do x end end", "x += 1", "{:ok, ,}",
        // `=>` outside maps; keyword pairs first in a tuple, after an operator, before a positional
        // argument, or as a statement; a quoted key where a call's argument goes.
        "{1 => 2}", "[1 => 2]", "foo(1 => 2)", "{a: 1}", "x * a: 1", "[a: 1, 2]", "(a: 1)",
        "a: 1\n", "To:\n x", "with (a: 1)", "foo \"a\" \"b\"", "x = text.y do: 1, \"z\"",
        // `+`/`-` after a line break inside brackets, a comma after one, `acc + 1, x` as a call.
        "[1\n - 2]", "[1\n, 2]", "acc + 1, {x}", "foo - 1, 2",
        // Reserved words are never names.
        "x = else\n", "fn x ->\n  1\nelse\n  2\nend", "[\"a\":::\"b\"]",
        // Elixir reads `x:::` as `x` and the atom `:::`, never as `x :: :...`.
        "x = lambda:::do\n  1\nend\nend", "x = a:::ok",
    ]

    /// Valid so far but unfinished: not complete.
    static let open: [String] = [
        "defmodule A do", "\"unterminated", "fn x ->", "[1, 2", "x +", "~s(abc", "\"a #{b", "@doc \"\"\"\ntext",
    ]

    @Test(arguments: valid)
    func acceptsCompletePrograms(_ code: String) {
        let s = Compiled.state(code)
        #expect(s != nil, "rejected: \(code.debugDescription)")
        #expect(s?.canEnd(Compiled.grammar) == true, "not complete: \(code.debugDescription)")
    }

    @Test(arguments: dead)
    func rejectsBrokenText(_ code: String) {
        #expect(Compiled.state(code) == nil, "accepted: \(code.debugDescription)")
    }

    @Test(arguments: open)
    func openTextIsNotComplete(_ code: String) {
        let s = Compiled.state(code)
        #expect(s != nil, "rejected: \(code.debugDescription)")
        #expect(s?.canEnd(Compiled.grammar) == false, "complete: \(code.debugDescription)")
    }

    @Test func everyValidSampleParsesWithElixir() throws {
        let verdicts = try ElixirParser.parse(Self.valid)
        for (code, ok) in zip(Self.valid, verdicts) { #expect(ok, "elixir rejects our valid sample \(code.debugDescription)") }
    }

    @Test func everyDeadSampleFailsInElixir() throws {
        let verdicts = try ElixirParser.parse(Self.dead)
        for (code, ok) in zip(Self.dead, verdicts) { #expect(!ok, "elixir accepts our dead sample \(code.debugDescription)") }
    }

    /// Every parser state can still reach the end of its construct by terminals alone, so
    /// budget-aware closing always has a way out (a comment after a unary `-` once had none).
    @Test func noStateIsADeadEnd() {
        let g = Compiled.grammar
        let dead = (0..<g.stateCount).filter { g.closeDist[$0] == Int32.max }
        #expect(dead.isEmpty, "states with no way to close: \(dead.prefix(10).map { g.machineNames[Int(g.stateMachine[$0])] })")
    }

    @Test func unbracketedRecursionIsAnError() {
        #expect(throws: GrammarError.self) { try GrammarCompiler.compile("a ::= b ;\nb ::= \"x\" b | \"y\" ;") }
        #expect(throws: GrammarError.self) { try GrammarCompiler.compile("a ::= [x ;") }
    }
}

/// Whether the real Elixir parser accepts each program.
enum ElixirParser {
    static func parse(_ programs: [String]) throws -> [Bool] { try ElixirParserJudge.judge(programs).map { $0 == "ok" } }
}
