import Checks
import Foundation
import Testing

/// One Credo check: a snippet that triggers it (on `line`) and one that must not.
struct CredoCase: CustomStringConvertible, Sendable {
    let check: String
    let bad: String
    let line: Int
    let good: String
    /// The files' paths, for checks that read the file's name.
    var badPath: String?
    var goodPath: String?
    var description: String { check }

    /// A module around `body` (indented), documented so that ModuleDoc stays quiet.
    static func module(_ body: String) -> String {
        "defmodule Sample do\n  @moduledoc \"Sample.\"\n\n" + body.split(separator: "\n", omittingEmptySubsequences: false).map { $0.isEmpty ? "" : "  " + $0 }.joined(separator: "\n") + "\nend\n"
    }

    /// Cases whose snippet sits in `module`: the bad line is counted from the body's first line (line 4).
    init(_ check: String, bad: String, line: Int, good: String) {
        self.check = "Credo.Check." + check
        self.bad = Self.module(bad)
        self.line = line + 3
        self.good = Self.module(good)
    }

    /// Cases that need the whole file (and, for checks of the file's name, its paths).
    init(file check: String, bad: String, line: Int, good: String, paths: (bad: String, good: String)? = nil) {
        self.check = "Credo.Check." + check
        self.bad = bad
        self.line = line
        self.good = good
        badPath = paths?.bad
        goodPath = paths?.good
    }
}

/// Every Credo check the built-in rules implement, each with a snippet that triggers it and one that must not.
let credoCases: [CredoCase] = [
    CredoCase("Consistency.ExceptionNames",
              bad: "defmodule FooError do\n  defexception [:message]\nend\ndefmodule BarError do\n  defexception [:message]\nend\ndefmodule BadThing do\n  defexception [:message]\nend", line: 7,
              good: "defmodule FooError do\n  defexception [:message]\nend\ndefmodule BarError do\n  defexception [:message]\nend\ndefmodule BadThing do\n  def a, do: 1\nend"),
    CredoCase("Readability.AliasOrder", bad: "alias MyApp.Zeta\nalias MyApp.Alpha\ndef a, do: {Zeta, Alpha}", line: 1,
              good: "alias MyApp.Alpha\nalias MyApp.{Beta, Gamma}\nalias MyApp.Zeta\n\nalias Other.Aardvark\ndef a, do: {Alpha, Beta, Gamma, Aardvark}"),
    CredoCase("Readability.ParenthesesInCondition", bad: "def a(x) do\n  if (x > 1) do\n    1\n  end\nend", line: 2,
              good: "def a(x) do\n  if (x + 1) * 2 > 3 do\n    1\n  end\nend\ndef b(x), do: if(x, do: 1)"),
    CredoCase("Warning.MissedMetadataKeyInLoggerConfig", bad: "require Logger\ndef a(id), do: Logger.info(\"hi\", user_id: id)", line: 2,
              good: "require Logger\ndef a, do: Logger.info(\"hi\")\ndef b, do: Logger.metadata(ansi_color: :red)"),
    CredoCase(file: "Warning.WrongTestFilename", bad: "defmodule HelperTest do\n  use ExUnit.Case\nend\n", line: 2,
              good: "defmodule HelperTest do\n  use ExUnit.Case\nend\n", paths: ("/project/test/helper.ex", "/project/test/helper_test.exs")),
    CredoCase("Consistency.LineEndings", bad: "def a, do: 1\r\ndef b, do: 2\ndef c, do: 3\n", line: 1, good: "def a, do: 1\ndef b, do: 2\n"),
    CredoCase("Consistency.ParameterPatternMatching", bad: "def a(%{x: x} = m), do: {x, m}\ndef b(%{x: x} = m), do: {x, m}\ndef c(m = %{x: x}), do: {x, m}", line: 3,
              good: "def a(%{x: x} = m), do: {x, m}\ndef b(%{x: x} = m), do: {x, m}"),
    CredoCase("Consistency.SpaceAroundOperators", bad: "def a(x), do: x + 1\ndef b(x), do: x - 1\ndef c(x), do: x*2", line: 3,
              good: "def a(x), do: x + 1\ndef b(x), do: -x\ndef c(x), do: x * 2"),
    CredoCase("Consistency.SpaceInParentheses", bad: "def a(x), do: [x]\ndef b(x), do: {x}\ndef c( x ), do: x", line: 3,
              good: "def a(x), do: [x]\ndef c(x), do: x"),
    CredoCase(file: "Consistency.TabsOrSpaces", bad: "defmodule A do\n  @moduledoc false\n  def a do\n    1\n  end\n\tdef b, do: 2\nend\n", line: 6,
              good: "defmodule A do\n  @moduledoc false\n  def a do\n    1\n  end\nend\n"),
    CredoCase("Design.AliasUsage", bad: "def a(x), do: MyApp.Accounts.Users.get(x)", line: 1, good: "alias MyApp.Accounts.Users\ndef a(x), do: Users.get(x)\ndef b(x), do: String.upcase(x)"),
    CredoCase("Design.TagFIXME", bad: "# FIXME: overflow\ndef a, do: 1", line: 1, good: "# fixed: overflow\ndef a, do: \"# FIXME inside a string\""),
    CredoCase("Design.TagTODO", bad: "def a do\n  # TODO: negative numbers\n  1\nend", line: 2, good: "def a, do: \"# TODO inside a string\""),
    CredoCase("Readability.FunctionNames", bad: "def fetchUser(id), do: id", line: 1, good: "def fetch_user(id), do: id\ndef a + b, do: {a, b}"),
    CredoCase("Readability.LargeNumbers", bad: "def a, do: 1000000", line: 1, good: "def a, do: 1_000_000\ndef b, do: 9999\ndef c, do: 0xFFFFFF"),
    CredoCase("Readability.MaxLineLength", bad: "def a(x) do\n  x + first_component_value(x) + second_component_value(x) + third_component_value(x) + fourth_component_value(x) + fifth_component(x)\nend", line: 2,
              good: "def a(x) do\n  x <> \"a string literal that is very long but strings do not count towards the maximum line length of Credo at all\"\nend"),
    CredoCase("Readability.ModuleAttributeNames", bad: "@maxRetries 3\ndef a, do: @maxRetries", line: 1, good: "@max_retries 3\ndef a, do: @max_retries"),
    CredoCase(file: "Readability.ModuleDoc", bad: "defmodule NoDoc do\n  def a, do: 1\nend\n", line: 1,
              good: "defmodule MyAppWeb.PageController do\n  def a, do: 1\nend\ndefmodule Doc do\n  @moduledoc false\nend\n"),
    CredoCase("Readability.ModuleNames", bad: "defmodule Inner_module do\n  @moduledoc false\nend", line: 1, good: "defmodule InnerModule do\n  @moduledoc false\nend"),
    CredoCase("Readability.ParenthesesOnZeroArityDefs", bad: "def a(), do: 1", line: 1, good: "def a, do: 1\ndef b(x), do: x"),
    CredoCase("Readability.PipeIntoAnonymousFunctions", bad: "def a(x), do: x |> (fn y -> y end).()", line: 1, good: "def a(x), do: x |> then(fn y -> y end)"),
    CredoCase("Readability.PredicateFunctionNames", bad: "def is_admin?(u), do: u.admin", line: 1, good: "def admin?(u), do: u.admin\ndefguard is_admin(u) when u == :admin"),
    CredoCase("Readability.PreferImplicitTry", bad: "def a(x) do\n  try do\n    x / 2\n  rescue\n    _ -> :error\n  end\nend", line: 2,
              good: "def a(x) do\n  x / 2\nrescue\n  _ -> :error\nend"),
    CredoCase("Readability.RedundantBlankLines", bad: "def a, do: 1\n\n\ndef b, do: 2", line: 3, good: "def a, do: 1\n\ndef b, do: \"\"\"\n  x\n\n\n  y\n  \"\"\""),
    CredoCase("Readability.Semicolons", bad: "def a do\n  x = 1; x\nend", line: 2, good: "def a do\n  x = \";\"\n  x\nend"),
    CredoCase("Readability.SpaceAfterCommas", bad: "def a(x,y), do: {x, y}", line: 1, good: "def a(x, y), do: {x, y, \"a,b\", ?,}"),
    CredoCase("Readability.StringSigils", bad: "def a, do: IO.puts(\"a \\\"b\\\" \\\"c\\\" \\\"d\\\" \\\"e\\\"\")", line: 1, good: "def a, do: IO.puts(~s(a \"b\" \"c\" \"d\" \"e\"))"),
    CredoCase(file: "Readability.TrailingBlankLine", bad: "defmodule A do\n  @moduledoc false\nend", line: 3, good: "defmodule A do\n  @moduledoc false\nend\n"),
    CredoCase("Readability.TrailingWhiteSpace", bad: "def a, do: 1   ", line: 1, good: "def a, do: \"\"\"\n  x   \n  \"\"\""),
    CredoCase("Readability.UnnecessaryAliasExpansion", bad: "alias MyApp.{Accounts}", line: 1, good: "alias MyApp.{Accounts, Billing}"),
    CredoCase("Readability.VariableNames", bad: "def a(x) do\n  myValue = x\n  myValue\nend", line: 2, good: "def a(x) do\n  my_value = x\n  my_value\nend"),
    CredoCase("Readability.WithSingleClause", bad: "def a(x) do\n  with {:ok, y} <- x do\n    y\n  else\n    _ -> nil\n  end\nend", line: 2,
              good: "def a(x) do\n  with {:ok, y} <- x,\n       {:ok, z} <- y do\n    z\n  else\n    _ -> nil\n  end\nend"),
    CredoCase("Refactor.Apply", bad: "def a(f, x), do: apply(f, [x])", line: 1, good: "def a(f, args), do: apply(f, args)"),
    CredoCase("Refactor.CondStatements", bad: "def a(x) do\n  cond do\n    x > 0 -> 1\n    true -> 0\n  end\nend", line: 2,
              good: "def a(x) do\n  cond do\n    x > 0 -> 1\n    x < 0 -> -1\n    true -> 0\n  end\nend"),
    CredoCase("Refactor.CyclomaticComplexity", bad: "def a(x) do\n  case x do\n    1 -> 1\n    2 -> 2\n    3 -> 3\n    4 -> 4\n    5 -> 5\n    6 -> 6\n    7 -> 7\n    8 -> 8\n    _ -> 0\n  end\nend", line: 1,
              good: "def a(x) do\n  case x do\n    1 -> 1\n    _ -> 0\n  end\nend"),
    CredoCase("Refactor.FilterCount", bad: "def a(l), do: l |> Enum.filter(&(&1 > 0)) |> Enum.count()", line: 1, good: "def a(l), do: Enum.count(l, &(&1 > 0))"),
    CredoCase("Refactor.FilterFilter", bad: "def a(l) do\n  l\n  |> Enum.filter(&(&1 > 0))\n  |> Enum.filter(&(&1 < 9))\nend", line: 4,
              good: "def a(l), do: Enum.filter(l, &(&1 > 0 and &1 < 9))"),
    CredoCase("Refactor.FunctionArity", bad: "def a(a, b, c, d, e, f, g, h, i), do: [a, b, c, d, e, f, g, h, i]", line: 1, good: "def a(a, b, c, d, e, f, g, h), do: [a, b, c, d, e, f, g, h]"),
    CredoCase("Refactor.MapJoin", bad: "def a(l), do: l |> Enum.map(&to_string/1) |> Enum.join(\",\")", line: 1, good: "def a(l), do: Enum.map_join(l, \",\", &to_string/1)"),
    CredoCase("Refactor.MatchInCondition", bad: "def a(l) do\n  if [h | _] = l do\n    h\n  end\nend", line: 2, good: "def a(l) do\n  if l != [] do\n    hd(l)\n  end\nend"),
    CredoCase("Refactor.NegatedConditionsInUnless", bad: "def a(x) do\n  unless !x do\n    1\n  end\nend", line: 2, good: "def a(x) do\n  if x do\n    1\n  end\nend"),
    CredoCase("Refactor.NegatedConditionsWithElse", bad: "def a(x) do\n  if !x do\n    1\n  else\n    2\n  end\nend", line: 2, good: "def a(x) do\n  if !x do\n    1\n  end\nend"),
    CredoCase("Refactor.Nesting", bad: "def a(x) do\n  if x do\n    if x do\n      if x do\n        1\n      end\n    end\n  end\nend", line: 4,
              good: "def a(x) do\n  if x do\n    if x do\n      1\n    end\n  end\nend"),
    CredoCase("Refactor.RedundantWithClauseResult", bad: "def a(m) do\n  with {:ok, v} <- Map.fetch(m, :k) do\n    {:ok, v}\n  end\nend", line: 2,
              good: "def a(m) do\n  with {:ok, v} <- Map.fetch(m, :k) do\n    {:ok, v + 1}\n  end\nend"),
    CredoCase("Refactor.RejectReject", bad: "def a(l) do\n  l\n  |> Enum.reject(&is_nil/1)\n  |> Enum.reject(&(&1 == \"\"))\nend", line: 4,
              good: "def a(l), do: Enum.reject(l, &(is_nil(&1) or &1 == \"\"))"),
    CredoCase("Refactor.UnlessWithElse", bad: "def a(x) do\n  unless x do\n    1\n  else\n    2\n  end\nend", line: 2, good: "def a(x) do\n  if x do\n    2\n  else\n    1\n  end\nend"),
    CredoCase("Refactor.WithClauses", bad: "def a(x) do\n  with y = x + 1,\n       {:ok, z} <- f(y) do\n    z\n  end\nend", line: 2,
              good: "def a(x) do\n  y = x + 1\n  with {:ok, z} <- f(y) do\n    z\n  end\nend"),
    CredoCase("Warning.ApplicationConfigInModuleAttribute", bad: "@port Application.get_env(:app, :port)\ndef a, do: @port", line: 1,
              good: "@port 4000\ndef a, do: Application.get_env(:app, :port, @port)"),
    CredoCase("Warning.BoolOperationOnSameValues", bad: "def a(x), do: x and x", line: 1, good: "def a(x, y), do: x and y"),
    CredoCase("Warning.Dbg", bad: "def a(x), do: dbg(x)", line: 1, good: "def a(x), do: x"),
    CredoCase("Warning.ExpensiveEmptyEnumCheck", bad: "def a(l), do: length(l) == 0", line: 1, good: "def a(l), do: l == []"),
    CredoCase("Warning.IExPry", bad: "def a(x) do\n  require IEx\n  IEx.pry()\n  x\nend", line: 3, good: "def a(x), do: x"),
    CredoCase("Warning.IoInspect", bad: "def a(x), do: IO.inspect(x)", line: 1, good: "def a(x), do: IO.puts(x)"),
    CredoCase("Warning.OperationOnSameValues", bad: "def a(x), do: x == x", line: 1, good: "def a(x, y), do: x == y"),
    CredoCase("Warning.OperationWithConstantResult", bad: "def a(x), do: x * 0", line: 1, good: "def a(x), do: x * 2"),
    CredoCase("Warning.RaiseInsideRescue", bad: "def a(x) do\n  try do\n    x / 2\n  rescue\n    e -> raise e\n  end\nend", line: 5,
              good: "def a(x) do\n  try do\n    x / 2\n  rescue\n    e -> reraise e, __STACKTRACE__\n  end\nend"),
    CredoCase("Warning.SpecWithStruct", bad: "@spec a(%URI{}) :: String.t()\ndef a(u), do: u.host", line: 1, good: "@spec a(URI.t()) :: String.t()\ndef a(u), do: u.host"),
    CredoCase("Warning.StructFieldAmount", bad: "defstruct [" + (1...32).map { ":f\($0)" }.joined(separator: ", ") + "]", line: 1, good: "defstruct [:a, :b]"),
    CredoCase("Warning.UnsafeExec", bad: "def a(h), do: :os.cmd(String.to_charlist(h))", line: 1, good: "def a(h), do: System.cmd(\"ping\", [h])"),
    CredoCase("Warning.UnusedEnumOperation", bad: "def a(l) do\n  Enum.map(l, &(&1 + 1))\n  l\nend", line: 2, good: "def a(l) do\n  l = Enum.map(l, &(&1 + 1))\n  l\nend"),
    CredoCase("Warning.UnusedFileOperation", bad: "def a(p) do\n  File.read(p)\n  p\nend", line: 2, good: "def a(p) do\n  File.write(p, \"x\")\n  p\nend"),
    CredoCase("Warning.UnusedKeywordOperation", bad: "def a(k) do\n  Keyword.put(k, :a, 1)\n  k\nend", line: 2, good: "def a(k), do: Keyword.put(k, :a, 1)"),
    CredoCase("Warning.UnusedListOperation", bad: "def a(l) do\n  List.flatten(l)\n  l\nend", line: 2, good: "def a(l), do: List.flatten(l)"),
    CredoCase("Warning.UnusedMapOperation", bad: "def a(m) do\n  Map.put(m, :a, 1)\n  m\nend", line: 2, good: "def a(m), do: Map.put(m, :a, 1)"),
    CredoCase("Warning.UnusedPathOperation", bad: "def a(p) do\n  Path.join(p, \"x\")\n  p\nend", line: 2, good: "def a(p), do: Path.join(p, \"x\")"),
    CredoCase("Warning.UnusedRegexOperation", bad: "def a(s) do\n  Regex.run(~r/a/, s)\n  s\nend", line: 2, good: "def a(s), do: Regex.run(~r/a/, s)"),
    CredoCase("Warning.UnusedStringOperation", bad: "def a(s) do\n  String.trim(s)\n  s\nend", line: 2, good: "def a(s), do: String.trim(s)"),
    CredoCase("Warning.UnusedTupleOperation", bad: "def a(t) do\n  Tuple.to_list(t)\n  t\nend", line: 2, good: "def a(t), do: Tuple.to_list(t)"),
]

@Suite("Credo checks, one by one")
struct CredoCheckTests {
    @Test("each check fires on its snippet (line, Credo's category and priority band) and stays quiet on the clean one", arguments: credoCases)
    func check(_ c: CredoCase) async throws {
        let bad = try await Fixtures.pool.report(.all, c.bad, options: CheckOptions(filePath: c.badPath)).findings ?? []
        #expect(!bad.contains { $0.check == "ElixirCoder.RuleFailed" }, "\(bad.filter { $0.check == "ElixirCoder.RuleFailed" }.map(\.message))")
        let hit = bad.first { $0.check == c.check }
        #expect(hit?.line == c.line, "\(c.check) on line \(c.line); found \(bad.map { "\($0.check)@\($0.line)" })")
        if let hit {
            let catalog = try #require(CredoCatalog.entry(c.check), "\(c.check) is in Credo's catalogue")
            #expect(hit.category == catalog.category)
            #expect(hit.priorityName == Fidelity.band(catalog.basePriority), "\(c.check): priority \(hit.priority ?? -999) is in the band of its base \(catalog.basePriority)")
        }
        let good = try await Fixtures.pool.report(.all, c.good, options: CheckOptions(filePath: c.goodPath)).findings ?? []
        #expect(!good.contains { $0.check == c.check }, "\(c.check) fired on the clean snippet: \(good.filter { $0.check == c.check }.map(\.message))")
        #expect(good.allSatisfy { $0.check != "ElixirCoder.RuleFailed" })
    }

    @Test("the fidelity table meets its targets on the recorded fixtures: recall >= 0.95, precision 1.0, band and column agreement >= 0.95")
    func fidelity() async throws {
        let f = try await Fidelity.measure(fixtures: Fixtures.root, pool: Fixtures.pool)
        for t in f.totals {
            let misses = f.rows.filter { $0.tool == t.tool }.flatMap { $0.missed + $0.extra.map { "extra " + $0 } }
            #expect(t.recall >= 0.95, "\(t.tool) recall \(t.recall): \(misses)")
            #expect(t.precision == 1.0, "\(t.tool) precision \(t.precision): \(misses)")
            #expect(t.bandAgreement >= 0.95 && t.columnAgreement >= 0.95, "\(t.tool) band \(t.bandAgreement) column \(t.columnAgreement)")
        }
    }

    @Test("without --strict, Credo's low-priority findings are hidden as mix credo hides them; --strict shows them")
    func strictness() async throws {
        let code = try String(contentsOf: Fixtures.root.appendingPathComponent("snippets/c13_formatting.ex"), encoding: .utf8)
        let normal = try await Fixtures.pool.findings(in: code, only: [.credo], options: CheckOptions(strict: false))
        let strict = try await Fixtures.pool.findings(in: code, only: [.credo], options: CheckOptions(strict: true))
        #expect(Set(normal.map(\.check)) == ["Credo.Check.Readability.LargeNumbers", "Credo.Check.Readability.Semicolons", "Credo.Check.Readability.SpaceAfterCommas"])
        #expect(strict.count == 9 && strict.contains { $0.check == "Credo.Check.Readability.MaxLineLength" && $0.priorityName == "low" })
        #expect(CredoExitStatus.status(for: normal) == 4, "readability only")
        let mixed = try await Fixtures.pool.findings(in: CredoCase.module("def a(x), do: IO.inspect(x)\n# TODO: b"), only: nil, options: CheckOptions(strict: false))
        #expect(CredoExitStatus.status(for: mixed) == 16 | 2, "warning and design bits")
    }

    @Test("syntax messages are composed as Elixir composes them, the token in the middle")
    func composedSyntaxMessage() async throws {
        let code = try String(contentsOf: Fixtures.root.appendingPathComponent("snippets/s02_unexpected_token.ex"), encoding: .utf8)
        let f = try #require(try await Fixtures.pool.findings(in: code).first)
        #expect(f.message == "unexpected token: ). The \"do\" at line 4 is missing terminator \"end\"")
        for key in Fixtures.snippets where key.contains("/s0") {
            let recorded = (Fixtures.findings[key] as! [String: Any])["syntax"] as! [String: Any]
            let code = try String(contentsOf: Fixtures.root.appendingPathComponent(key), encoding: .utf8)
            #expect(try await Fixtures.pool.syntax(code).displayMessage == recorded["message"] as? String, "\(key)")
        }
    }
}

/// Credo's catalogue as recorded from Credo 1.7.19 (`catalog.json`).
enum CredoCatalog {
    struct Entry {
        let category: String
        let basePriority: Int
    }

    static let entries: [String: Entry] = {
        let data = try! Data(contentsOf: Fixtures.root.appendingPathComponent("catalog.json"))
        let json = try! JSONSerialization.jsonObject(with: data) as! [String: Any]
        let credo = json["credo"] as! [String: Any]
        var out: [String: Entry] = [:]
        for group in ["enabled", "disabled_opt_in"] {
            for c in credo[group] as! [[String: Any]] {
                out[c["name"] as! String] = Entry(category: c["category"] as! String, basePriority: c["default_priority_value"] as! Int)
            }
        }
        return out
    }()

    static func entry(_ check: String) -> Entry? { entries[check] }
}
