import Checks
import Foundation
import Testing

/// The sandboxed compile worker, against the real Elixir compiler.
@Suite("Compile worker", .serialized, .enabled(if: Sandbox.available != nil, "bubblewrap cannot run here: nothing can be compiled in isolation"))
struct CompileWorkerTests {
    static let worker = try! CompileWorker()

    @Test("compiler errors and warnings come back as diagnostics with their line, column and kind")
    func diagnostics() async throws {
        let r = try await Self.worker.compile("defmodule A do\n  def f(x) do\n    y = 1\n    x + 1\n  end\n\n  def g(x), do: missing(x)\nend\n")
        #expect(!r.compiled)
        let error = try #require(r.diagnostics.first { $0.severity == .error })
        #expect(error.check == "Compiler.UndefinedFunction" && error.line == 7 && error.column == 17)
        #expect(error.message.contains("undefined function missing/1"))
        let warning = try #require(r.diagnostics.first { $0.severity == .warning })
        #expect(warning.check == "Compiler.UnusedVariable" && warning.line == 3 && warning.column == 5)

        let ok = try await Self.worker.compile("defmodule A do\n  def f(x), do: x\n  defp g, do: 1\nend\n")
        #expect(ok.compiled && ok.modules == ["A"] && ok.functions == ["A.f/1"])
        #expect(ok.warnings.map(\.check) == ["Compiler.UnusedFunction"])
        let spec = try await Self.worker.compile("defmodule A do\n  @spec f(thing()) :: integer()\n  def f(x), do: x\nend\n")
        #expect(spec.diagnostics.first?.check == "Compiler.UndefinedType", "\(spec.diagnostics)")
    }

    @Test("examples run against the compiled module: values, exceptions, printed forms and runaway calls")
    func examples() async throws {
        let code = "defmodule M do\n  def double(x), do: x * 2\n  def loop(x), do: loop(x)\nend\n"
        let r = try await Self.worker.compile(code, examples: [
            Example(expression: "M.double(2)", expected: "4"),
            Example(expression: "M.double(2)", expected: "5"),
            Example(expression: "M.double(:a)", expected: "** (ArithmeticError) bad argument in arithmetic expression"),
            Example(expression: "M.double(%{a: 1}[:a])", expected: "2"),
            Example(expression: "M.loop(1)", expected: "1"),
        ])
        try #require(r.examples.count == 5, "\(r.diagnostics)")
        #expect(r.examples.map(\.passed) == [true, false, true, true, false])
        #expect(r.examples[1].actual == "4")
        #expect(r.examples[4].actual.contains("ran longer than"))
    }

    @Test("a module body cannot write outside the sandbox, reach the network, leave processes or modules behind, or take the worker down")
    func isolation() async throws {
        // /tmp inside is the sandbox's own: a write there succeeds and never reaches the real /tmp.
        let outside = FileManager.default.temporaryDirectory.appendingPathComponent("ec-escape-\(UUID().uuidString)").path
        let write = try await Self.worker.compile("defmodule W do\n  File.write!(\"\(outside)\", \"x\")\n  def f, do: 1\nend\n")
        #expect(write.compiled)
        #expect(!FileManager.default.fileExists(atPath: outside))
        // Everywhere else is read-only: the home folder and the system's.
        for here in [NSHomeDirectory() + "/ec-escape-\(UUID().uuidString)", "/etc/ec-escape-\(UUID().uuidString)"] where !here.hasPrefix("/tmp/") {
            let home = try await Self.worker.compile("defmodule H do\n  File.write!(\"\(here)\", \"x\")\n  def f, do: 1\nend\n")
            let why = home.diagnostics.first?.message ?? ""
            #expect(!home.compiled && (why.contains("read-only") || why.contains("permission")), "\(here): \(home.diagnostics)")
            #expect(!FileManager.default.fileExists(atPath: here))
        }

        let socket = try await Self.worker.compile("defmodule N do\n  {:ok, _} = :gen_tcp.connect({127, 0, 0, 1}, 22, [], 500)\n  def f, do: 1\nend\n")
        #expect(!socket.compiled)
        let dns = try await Self.worker.compile("defmodule D do\n  {:ok, _} = :inet.gethostbyname(~c\"pypi.org\")\n  def f, do: 1\nend\n")
        #expect(!dns.compiled)

        // A process the candidate spawned is gone before the next request, and so is its module.
        _ = try await Self.worker.compile("defmodule Lingers do\n  pid = spawn(fn -> Process.sleep(:infinity) end)\n  Process.register(pid, :ec_lingering)\n  def f, do: 1\nend\n")
        let after = try await Self.worker.compile("defmodule Probe do\n  if Process.whereis(:ec_lingering), do: raise(\"a process survived\")\n  if Code.ensure_loaded?(Lingers), do: raise(\"a module survived\")\n  def f, do: 1\nend\n")
        #expect(after.compiled, "\(after.diagnostics)")

        // Nor does an OS process it started and detached (it would outlive the request's limits).
        _ = try await Self.worker.compile("defmodule Detach do\n  System.cmd(\"sh\", [\"-c\", \"sleep 59 & echo\"])\n  def f, do: 1\nend\n")
        let survivors = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).filter { pid in
            Int(pid) != nil && (FileManager.default.contents(atPath: "/proc/\(pid)/cmdline").map { String(decoding: $0, as: UTF8.self).contains("sleep\u{0}59") } ?? false)
        }
        #expect(survivors.isEmpty, "a detached sleep survived: \(survivors)")

        // Output on stdout cannot pass for an answer.
        let forged = try await Self.worker.compile("defmodule F do\n  IO.puts(\"EC\\t1\\t{}\")\n  :erlang.display(:noise)\n  def f, do: 1\nend\n")
        #expect(forged.compiled && forged.functions == ["F.f/0"])

        let starts = Self.worker.processStarts
        let halt = try await Self.worker.compile("defmodule Halt do\n  System.halt(0)\nend\n")
        #expect(!halt.compiled && halt.diagnostics.first?.severity == .error)
        let next = try await Self.worker.compile("defmodule Next do\n  def f, do: 1\nend\n")
        #expect(next.compiled && Self.worker.processStarts == starts + 2, "halting twice (the first time could be an earlier crash), then a fresh worker")

        let hog = try await Self.worker.compile("defmodule Hog do\n  Enum.reduce(1..100_000_000, [], fn i, acc -> [i | acc] end)\n  def f, do: 1\nend\n")
        #expect(!hog.compiled && hog.diagnostics.first?.message.contains("memory") == true, "\(hog.diagnostics)")
        let slow = try await Self.worker.compile("defmodule Slow do\n  Process.sleep(60_000)\n  def f, do: 1\nend\n")
        #expect(!slow.compiled && slow.diagnostics.first?.message.contains("longer than") == true, "\(slow.diagnostics)")
    }

    @Test("the synthesizer reads the task's struct, options and demands: strings cut into argument values, structs updated field by field, MapSet where asked")
    func structsAndStrings() async throws {
        var book = SynthesisRequest(function: "describe", parameters: ["book"],
                                    examples: [Example(expression: "B.describe(%Book{title: \"Dune\", author: \"Herbert\", year: 1965})", expected: "\"Dune by Herbert (1965)\"")],
                                    words: ["string", "form"], constants: [], budget: 2)
        #expect(try await Self.worker.synthesize(book).programs.isEmpty, "without the struct's definition the example is not read")
        book.structure = ("Book", "title: nil, author: nil, year: nil")
        let described = try await Self.worker.synthesize(book).programs
        #expect(described.contains { $0.source == "\"#{book.title} by #{book.author} (#{book.year})\"" && $0.unused == 0 }, "\(described.map(\.source))")

        // Options are read with their defaults; a value beats the same text written in.
        var greet = SynthesisRequest(function: "greet", parameters: ["name", "opts"],
                                     examples: [Example(expression: "S.greet(\"Ann\", greeting: \"Hi\")", expected: "\"Hi, Ann!\"")],
                                     words: ["greeting"], constants: [], budget: 2)
        greet.options = [("greeting", "\"Hello\""), ("punctuation", "\"!\"")]
        let greetings = try await Self.worker.synthesize(greet).programs.sorted { $0.size < $1.size }
        #expect(greetings.first?.source == "greeting = Keyword.get(opts, :greeting, \"Hello\")\npunctuation = Keyword.get(opts, :punctuation, \"!\")\n\"#{greeting}, #{name}#{punctuation}\"",
                "\(greetings.map(\.source))")

        // A struct returned with some fields changed: each field's program reads that field and the parameter named after it.
        var point = SynthesisRequest(function: "translate", parameters: ["point", "dx", "dy"],
                                     examples: [Example(expression: "G.translate(%Point{x: 1, y: 2}, 3, -1)", expected: "%Point{x: 4, y: 1}")],
                                     words: ["moved"], constants: [], budget: 2)
        point.structure = ("Point", "x: 0, y: 0")
        let moved = try await Self.worker.synthesize(point).programs
        #expect(moved.map(\.source) == ["%{point | x: dx + point.x, y: dy + point.y}"] && moved.first?.unused == 0)

        // "Use `MapSet`": a smaller program without it would hide the one with it, and would fill
        // the solutions first; the budget's second half grows only MapSet's functions.
        var tags = SynthesisRequest(function: "common", parameters: ["tags_a", "tags_b"],
                                    examples: [Example(expression: "T.common([\"elixir\", \"otp\", \"web\"], [\"web\", \"elixir\", \"db\"])", expected: "[\"elixir\", \"web\"]")],
                                    words: ["sorted", "tags", "appear", "both"], constants: [], budget: 3, beyond: 2)
        tags.demands = ["MapSet"]
        let common = try await Self.worker.synthesize(tags).programs
        #expect(!common.isEmpty && common.allSatisfy { $0.source.contains("MapSet.") }, "\(common.map(\.source))")
        #expect(common.contains { $0.unused == 0 && $0.source.contains("MapSet.intersection(") }, "\(common.map(\.source))")

        // A struct line never redefines a module that exists: Enum still works afterwards.
        var hostile = book
        hostile.structure = ("Enum", "x: 0")
        _ = try await Self.worker.synthesize(hostile)
        let digits = SynthesisRequest(function: "digit_sum", parameters: ["n"], examples: [Example(expression: "D.digit_sum(4096)", expected: "19")],
                                      words: ["sum", "digits"], constants: [], budget: 1)
        #expect(try await Self.worker.synthesize(digits).programs.contains { $0.source == "n |> Integer.digits() |> Enum.sum()" })
    }

    @Test("the synthesizer finds library compositions that give the examples, smallest first, and only from literal examples")
    func synthesis() async throws {
        let digits = SynthesisRequest(function: "digit_sum", parameters: ["n"], examples: [Example(expression: "D.digit_sum(4096)", expected: "19")],
                                      words: ["sum", "digits"], constants: [], budget: 2)
        let r = try await Self.worker.synthesize(digits)
        #expect(r.params == ["n"])
        let best = try #require(r.programs.min { $0.size < $1.size })
        #expect(best.source == "n |> Integer.digits() |> Enum.sum()" && best.size == 3 && best.affinity == 2 && best.names == 2 && best.unused == 0)
        #expect(!r.programs.contains { $0.source.contains("19") }, "the expected value is not a constant to return")

        // Without parameter names, they come from the examples' values; constants come from the request.
        let pad = SynthesisRequest(function: "pad", parameters: nil,
                                   examples: [Example(expression: "P.pad(\"7\", 3)", expected: "\"007\""), Example(expression: "P.pad(\"42\", 4)", expected: "\"0042\"")],
                                   words: ["pad"], constants: ["\"0\""], budget: 2)
        let padded = try await Self.worker.synthesize(pad)
        #expect(padded.params == ["text", "n"])
        #expect(padded.programs.contains { $0.source == "String.pad_leading(text, n, \"0\")" }, "\(padded.programs.map(\.source))")

        // Strings grow fast: a size whose search hits the heap cap ends the search, and what the
        // smaller sizes found still comes back. Only called functions count as names, not atoms or `fn`.
        let title = SynthesisRequest(function: "titleize", parameters: ["text"],
                                     examples: [Example(expression: "T.titleize(\"the  GREAT gatsby\")", expected: "\"The Great Gatsby\"")],
                                     words: ["capitalizes", "words", "split"], constants: [], budget: 6)
        let titled = try await Self.worker.synthesize(title)
        let found = try #require(titled.programs.first { $0.source == "text |> String.split() |> Enum.map_join(\" \", &String.capitalize/1)" },
                                 "\(titled.programs.map(\.source))")
        #expect(found.names == 3 && found.affinity == 2, "split, join, capitalize; two of them echo the task")

        // With one example, more sizes show the alternatives; the documentation of every function
        // of the right program shares a rare word with the task.
        let groups = SynthesisRequest(function: "groups_of", parameters: ["list", "n"],
                                      examples: [Example(expression: "G.groups_of([1, 2, 3, 4, 5], 2)", expected: "[[1, 2], [3, 4]]")],
                                      words: ["splits", "consecutive", "groups", "exactly", "elements", "last", "group", "would", "shorter", "drop"],
                                      constants: [], budget: 3, beyond: 2)
        let grouped = try await Self.worker.synthesize(groups)
        let chunks = try #require(grouped.programs.first { $0.source == "Enum.chunk_every(list, n, n, :discard)" }, "\(grouped.programs.map(\.source))")
        #expect(chunks.undescribed == 0 && chunks.described > 0 && chunks.affinity == 0)
        #expect(grouped.programs.contains { $0.size > chunks.size }, "alternatives one and two sizes larger were searched")
        #expect(grouped.informative, "a list of two different lists is a result few programs give by chance")
        #expect(!(try await Self.worker.synthesize(digits)).informative, "one integer is not")

        // The bytes of a binary, a constant from the task's prose, and a name that echoes "modulo".
        let checksum = SynthesisRequest(function: "checksum", parameters: ["data"], examples: [Example(expression: "B.checksum(<<200, 100>>)", expected: "44")],
                                        words: ["sum", "bytes", "modulo"], constants: ["256"], budget: 3, beyond: 2)
        let sums = try await Self.worker.synthesize(checksum).programs
        let mod = try #require(sums.first { $0.source == "data |> :binary.bin_to_list() |> Enum.sum() |> Integer.mod(256)" }, "\(sums.map(\.source))")
        #expect(mod.affinity == 2 && mod.names == 2 && mod.literals == 1, "sum and mod; binary and list are type words")

        // The fields of maps in a list, and "total", which the documentation of Enum.sum does not say.
        let cart = SynthesisRequest(function: "total", parameters: ["items"],
                                    examples: [Example(expression: "C.total([%{price: 250, qty: 2}, %{price: 100, qty: 1}])", expected: "600")],
                                    words: ["computes", "total", "price", "cart"], constants: [], budget: 3, beyond: 2)
        let totals = try await Self.worker.synthesize(cart).programs
        let total = try #require(totals.first { $0.source == "items |> Enum.map(&(&1.price * &1.qty)) |> Enum.sum()" }, "\(totals.map(\.source))")
        #expect(total.undescribed == 0 && total.affinity == 0 && total.size == 4, "its documentation, not its name, echoes the task")
        // A yes-or-no field is a test: it keeps elements, it does not sort them.
        let active = SynthesisRequest(function: "active_names", parameters: ["users"],
                                      examples: [Example(expression: "U.active_names([%{name: \"ann\", active: true}, %{name: \"bob\", active: false}, %{name: \"cy\", active: true}])",
                                                         expected: "[\"ann\", \"cy\"]")],
                                      words: ["names", "active", "users"], constants: [], budget: 2)
        let names = try await Self.worker.synthesize(active).programs.map(\.source)
        #expect(names.contains("users |> Enum.filter(& &1.active) |> Enum.map(& &1.name)"), "\(names)")
        #expect(!names.contains { $0.contains("sort_by(& &1.active)") || $0.contains("map(& &1.active)") })

        // A test may compare with another parameter; tests only keep, drop or count elements:
        // sorting by `&(&1 > limit)` would fit examples by chance.
        let atLeast = SynthesisRequest(function: "at_least", parameters: ["numbers", "limit"],
                                       examples: [Example(expression: "A.at_least([5, 1, 8, 3, 9], 4)", expected: "[5, 8, 9]")],
                                       words: ["keeps", "numbers", "least"], constants: [], budget: 3)
        let kept = try await Self.worker.synthesize(atLeast).programs
        let filter = try #require(kept.first { $0.source.hasPrefix("Enum.filter(numbers, &(&1 >") || $0.source.hasPrefix("Enum.reject(numbers, &(&1 <") },
                                  "\(kept.map(\.source))")
        #expect(filter.unused == 0 && filter.size == 3)
        #expect(!kept.contains { $0.source.contains("sort_by") && ($0.source.contains("&1 <") || $0.source.contains("&1 >")) })

        // Probes show a default of the wrong kind: a map of integers does not get a string value.
        let points = SynthesisRequest(function: "add_points", parameters: ["scores", "name", "points"],
                                      examples: [Example(expression: "S.add_points(%{\"ann\" => 2}, \"ann\", 3)", expected: "%{\"ann\" => 5}")],
                                      words: ["adds", "points", "score"], constants: [], budget: 3)
        let updates = try await Self.worker.synthesize(points).programs.filter { $0.source.hasPrefix("Map.update(scores, name, ") }
        let byParameter = try #require(updates.first { $0.source == "Map.update(scores, name, points, &(&1 + points))" }, "\(updates.map(\.source))")
        #expect(byParameter.partial == 0 && byParameter.literals == 0 && byParameter.unused == 0)
        #expect(updates.contains { $0.source.contains("name, \"\"") && $0.partial > 0 && $0.literals == 1 }, "\(updates.map { ($0.source, $0.partial) })")

        // A negative number is data.
        let negative = SynthesisRequest(function: "f", parameters: ["x"], examples: [Example(expression: "M.f(-3)", expected: "3")],
                                        words: [], constants: [], budget: 1)
        #expect(try await Self.worker.synthesize(negative).programs.contains { $0.source == "abs(x)" })

        // An example whose arguments are not data (a call, a variable) is not evaluated outside the module.
        let calls = SynthesisRequest(function: "f", parameters: ["x"], examples: [Example(expression: "M.f(File.read!(\"/etc/passwd\"))", expected: "1")],
                                     words: [], constants: [], budget: 1)
        #expect(try await Self.worker.synthesize(calls).programs.isEmpty)
    }
}
