import Checks
import Foundation
import Testing

enum Fixtures {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures/elixir-tools")
    nonisolated(unsafe) static let findings: [String: Any] = try! JSONSerialization.jsonObject(with: Data(contentsOf: root.appendingPathComponent("findings.json"))) as! [String: Any]
    static var snippets: [String] { findings.keys.sorted() }
    static let pool = try! CheckerPool(size: 2)
}

/// Every check id the built-in rules can report (a test keeps this list honest): the Credo checks
/// of `credoCases`, Sobelow's finding types and our own.
let builtinChecks: Set<String> = Set(credoCases.map(\.check)).union([
    "CI.OS", "CI.System", "Config.Secrets", "DOS.BinToAtom", "DOS.ListToAtom", "DOS.StringToAtom", "Misc.BinToTerm", "Misc.ModuleBodySideEffect", "RCE.CodeModule",
    "RCE.EEx", "SQL.Query", "SQL.Stream", "Traversal.FileModule", "Traversal.SendDownload", "Traversal.SendFile", "XSS.HTML", "XSS.Raw", "XSS.SendResp",
    "Config.CSRF", "Config.CSP", "Config.CSRFRoute", "Config.CSWH", "Config.HTTPS", "Config.HSTS", "Config.Headers", "XSS.ContentType",
    "Vuln.Coherence", "Vuln.CookieRCE", "Vuln.Ecto", "Vuln.HeaderInject", "Vuln.PlugNull", "Vuln.Redirect",
])

struct Pair: Hashable, CustomStringConvertible {
    let check: String
    let line: Int
    var description: String { "\(check)@\(line)" }
}

@Suite("Built-in rules against the real Credo and Sobelow")
struct BuiltinRuleTests {
    @Test("built-in findings equal the real tools' (check id and line) for every check we implement", arguments: Fixtures.snippets)
    func matchesRealTools(_ key: String) async throws {
        let expected = Fixtures.findings[key] as! [String: Any]
        let code = try String(contentsOf: Fixtures.root.appendingPathComponent(key), encoding: .utf8)
        let real = Set((expected["credo"] as! [[String: Any]]).map { Pair(check: $0["check"] as! String, line: $0["line"] as! Int) })
            .union((expected["sobelow"] as! [[String: Any]]).map {
                Pair(check: String(($0["type"] as! String).split(separator: ":")[0]), line: $0["line"] as! Int)
            })
        let report = try await Fixtures.pool.report(.all, code, kind: key.hasSuffix(".exs") ? .config : .code)
        let ours = Set((report.findings ?? []).map { Pair(check: $0.check, line: $0.line) })
        #expect(real.filter { builtinChecks.contains($0.check) } == ours, "real: \(real.sorted { $0.line < $1.line })")
        #expect((report.findings ?? []).allSatisfy { $0.builtin })
    }

    @Test("parser verdicts and positions match Elixir's on the broken snippets")
    func syntaxVerdicts() async throws {
        for key in Fixtures.snippets where key.contains("/s0") {
            let syntax = (Fixtures.findings[key] as! [String: Any])["syntax"] as! [String: Any]
            let code = try String(contentsOf: Fixtures.root.appendingPathComponent(key), encoding: .utf8)
            let r = try await Fixtures.pool.syntax(code)
            #expect(r.status != .ok)
            #expect(r.line == syntax["line"] as? Int, "\(key)")
            #expect(r.column == syntax["column"] as? Int, "\(key)")
        }
    }

    @Test("an unterminated construct is an incomplete prefix; a stray token is dead")
    func incompleteVersusInvalid() async throws {
        #expect(try await Fixtures.pool.syntax("defmodule A do\n  def f(x) do\n    x").status == .incomplete)
        #expect(try await Fixtures.pool.syntax("x = \"\"\"\nopen heredoc").status == .incomplete)
        #expect(try await Fixtures.pool.syntax("defmodule A do\n  def f(x) do\n    x )\n").status == .invalid)
        #expect(try await Fixtures.pool.syntax("def f(a, b), do: a +* b").status == .invalid)
        #expect(try await Fixtures.pool.syntax("IO.puts(\"ok\")").status == .ok)
    }

    @Test("rules beyond the fixtures: unless with else, IO.inspect, variable names, secrets only in config")
    func ownSnippets() async throws {
        let code = """
        defmodule Own do
          @moduledoc "Own snippets."
          def a(x) do
            unless x do
              1
            else
              2
            end
          end

          def b(x) do
            myValue = IO.inspect(x)
            myValue
          end

          def c(html), do: raw(html)
        end
        """
        let f = try await Fixtures.pool.report(.all, code).findings ?? []
        let pairs = Set(f.map { Pair(check: $0.check, line: $0.line) })
        #expect(pairs.contains(Pair(check: "Credo.Check.Refactor.UnlessWithElse", line: 4)))
        #expect(pairs.contains(Pair(check: "Credo.Check.Warning.IoInspect", line: 12)))
        #expect(pairs.contains(Pair(check: "Credo.Check.Readability.VariableNames", line: 12)))
        #expect(pairs.contains(Pair(check: "XSS.Raw", line: 16)))
        let config = "import Config\nconfig :app, password: \"hunter2\"\n"
        #expect(try await Fixtures.pool.report(.all, config, kind: .config).findings?.first?.check == "Config.Secrets")
        #expect(try await Fixtures.pool.report(.all, config, kind: .code).findings?.isEmpty == true)
        let noDoc = try await Fixtures.pool.report(.all, "defmodule NoDoc do\n  def f, do: 1\nend\n").findings ?? []
        #expect(noDoc.map(\.check) == ["Credo.Check.Readability.ModuleDoc"])
    }

    @Test("every built-in check id fires somewhere in the fixtures or our snippets")
    func catalogueIsHonest() async throws {
        var seen: Set<String> = []
        for key in Fixtures.snippets {
            let code = try String(contentsOf: Fixtures.root.appendingPathComponent(key), encoding: .utf8)
            for f in try await Fixtures.pool.report(.all, code, kind: key.hasSuffix(".exs") ? .config : .code).findings ?? [] { seen.insert(f.check) }
        }
        let extra = "defmodule X do\n  def a(x) do\n    unless x do\n      1\n    else\n      2\n    end\n  end\n  def b(y), do: IO.inspect(y)\n  def c(h) do\n    myVar = raw(h)\n    myVar\n  end\nend\ndefmodule Y do\n  File.rm_rf(\"tmp\")\n  def z, do: 1\nend\n"
        for code in [extra, SobelowProjectTests.noHeaders, SobelowProjectTests.contentTypeController] {
            for f in try await Fixtures.pool.report(.all, code).findings ?? [] { seen.insert(f.check) }
        }
        for c in credoCases {
            for f in try await Fixtures.pool.report(.all, c.bad, options: CheckOptions(filePath: c.badPath)).findings ?? [] { seen.insert(f.check) }
        }
        for file in ["mix.exs", "lib/demo_web/controllers/page_controller.ex"] {
            let path = SobelowTemplateAndVulnTests.phoenix.appendingPathComponent(file).path
            for f in try await SobelowTemplateAndVulnTests.sobelow(path) { seen.insert(f.check) }
        }
        for file in ["lib/router.ex", "lib/endpoint.ex", "config/prod.exs", "config/dev.exs"] {
            let path = SobelowProjectTests.project.appendingPathComponent(file).path
            let options = CheckOptions.forFile(path, strict: true)
            for f in try await Fixtures.pool.report(.all, try String(contentsOfFile: path, encoding: .utf8), options: options).findings ?? [] { seen.insert(f.check) }
        }
        #expect(builtinChecks.subtracting(seen).isEmpty, "never fired: \(builtinChecks.subtracting(seen).sorted())")
        #expect(seen.subtracting(builtinChecks).isEmpty, "undeclared: \(seen.subtracting(builtinChecks).sorted())")
    }
}

@Suite("Checker process")
struct CheckerProcessTests {
    @Test("format reports whether the formatter changes the code, and its output")
    func format() async throws {
        let f = try await Fixtures.pool.format("defmodule A do\ndef f(x),do: x+1\nend")
        #expect(f.changed)
        #expect(f.formatted == "defmodule A do\n  def f(x), do: x + 1\nend\n")
        #expect(try await Fixtures.pool.format(f.formatted!).changed == false)
    }

    @Test("AST facts name modules, functions, calls and styles")
    func facts() async throws {
        let code = """
        defmodule Cache do
          use GenServer
          alias MyApp.Repo
          def start_link(opts), do: GenServer.start_link(__MODULE__, opts)
          defp fetch(key) do
            with {:ok, v} <- Map.fetch(%{}, key) do
              {:ok, v}
            end
          end
          def load(path), do: File.read(path)
          def table, do: :ets.new(:t, [:set])
        end
        """
        let f = try #require(try await Fixtures.pool.facts(code))
        #expect(f.modules == ["Cache"])
        #expect(f.functions.contains("fetch/1 private") && f.functions.contains("start_link/1 public"))
        #expect(f.uses == ["GenServer"] && f.aliases == ["MyApp.Repo"])
        #expect(f.concurrency.contains("GenServer"))
        #expect(f.errorHandling.contains("with") && f.errorHandling.contains("tagged_tuples"))
        #expect(f.dataStructures.contains("ets") && f.dataStructures.contains("map"))
        #expect(f.dependencies.contains("file"))
        #expect(try await Fixtures.pool.facts("def (") == nil)
    }

    @Test("bad input gets clear errors and the checker keeps serving")
    func badInput() async throws {
        let pool = try CheckerPool(size: 1, maxBytes: 1 << 20)
        let garbage = String(decoding: (0..<4000).map { UInt8(truncatingIfNeeded: $0 &* 97 &+ 13) }, as: UTF8.self)
        #expect(try await pool.syntax(garbage).status != .ok)
        await #expect(throws: CheckerError.self) { try await pool.report(.all, String(repeating: "a = 1\n", count: 900_000)) }
        let deep = String(repeating: "[", count: 5000) + String(repeating: "]", count: 5000)
        _ = try? await pool.report(.all, deep)
        #expect(try await pool.syntax("x = 1").status == .ok, "still serving after deep nesting")
        pool.killProcess()
        #expect(try await pool.syntax("x = 1").status == .ok, "restarted after a crash")
        let slow = try CheckerPool(size: 1, timeout: 0.05)
        await #expect(throws: CheckerError.self) { try await slow.syntax("x = 1") }
    }

    @Test("a large file with a finding on every line is checked, not timed out (lines were looked up in a list, the answer rescanned per chunk)")
    func largeFile() async throws {
        // About 420 KB: 12,000 functions, each with trailing whitespace and an IO.inspect.
        let body = (0..<12_000).map { "  def f\($0)(x), do: IO.inspect(x) \n" }.joined()
        let code = "defmodule Big do\n  @moduledoc \"Big.\"\n" + body + "end\n"
        #expect(code.utf8.count > 400_000)
        // 45 s: about 7 s of CPU with the Credo rules, on a shared machine.
        let report = try await CheckerPool(size: 1, timeout: 45).report(.all, code)
        let findings = report.findings ?? []
        #expect(findings.filter { $0.check == "Credo.Check.Warning.IoInspect" }.count == 12_000)
        #expect(findings.first { $0.check == "Credo.Check.Warning.IoInspect" }?.snippet == "def f0(x), do: IO.inspect(x)")
    }

    @Test("restarting a checker process leaves no file descriptor behind")
    func noDescriptorLeak() async throws {
        func open() -> Int { (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? 0 }
        let pool = try CheckerPool(size: 1)
        // The first restarts start Dispatch's own threads (and their descriptors); count after them.
        for _ in 0..<4 {
            pool.killProcess()
            #expect(try await pool.syntax("x = 1").status == .ok)
        }
        let before = open()
        for _ in 0..<8 {
            pool.killProcess()
            #expect(try await pool.syntax("x = 1").status == .ok)
        }
        // A leak of the pipes' ends would be 8 to 16 more; allow one for other suites' threads.
        #expect(open() <= before + 1, "\(before) descriptors before 8 restarts, \(open()) after")
    }

    @Test("a warmed-up pool has booted every process before the first request, and requests reuse them")
    func warmUp() async throws {
        let pool = try CheckerPool(size: 2)
        #expect(pool.processStarts == 0, "processes start lazily")
        pool.warmUp()
        #expect(pool.processStarts == 2)
        async let a = pool.syntax("x = 1")
        async let b = pool.syntax("y = (")
        #expect(try await a.status == .ok)
        #expect(try await b.status == .incomplete)
        #expect(pool.processStarts == 2, "no request waited for another boot")
    }

    @Test("concurrent requests are all answered, each with its own result")
    func concurrent() async throws {
        try await withThrowingTaskGroup(of: (Int, SyntaxResult.Status).self) { group in
            for i in 0..<12 {
                group.addTask { (i, try await Fixtures.pool.syntax(i % 2 == 0 ? "x = \(i)" : "x = (\(i)").status) }
            }
            for try await (i, status) in group { #expect(status == (i % 2 == 0 ? .ok : .incomplete)) }
        }
    }
}

@Suite("Real tool output")
struct ToolReportTests {
    @Test("Credo's JSON is read exactly as recorded")
    func credo() throws {
        let f = try CredoReport.parse(Data(contentsOf: Fixtures.root.appendingPathComponent("formats/credo_strict.json")))
        #expect(!f.isEmpty)
        #expect(f[0].check == "Credo.Check.Warning.IoInspect" && f[0].line == 7 && f[0].column == 8 && f[0].priority == 12)
        #expect(f.allSatisfy { $0.source == .credo && !$0.builtin })
    }

    @Test("Sobelow's JSON is read with confidence, rule id and CWE")
    func sobelow() throws {
        let f = try SobelowReport.parse(Data(contentsOf: Fixtures.root.appendingPathComponent("formats/sobelow.json")))
        let send = try #require(f.first { $0.check == "XSS.SendResp" })
        #expect(send.line == 7 && send.confidence == "high" && send.ruleID == "SBLW031" && send.cwe == "CWE-79" && send.column == nil)
        #expect(throws: CheckerError.self) { try SobelowReport.parse(Data("{}".utf8)) }
    }
}
