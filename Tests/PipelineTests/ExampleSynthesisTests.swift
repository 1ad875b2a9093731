import Checks
import Pipeline
import Testing

/// From a task's contract to a synthesis request, and from found programs to candidate code.
struct ExampleSynthesisTests {
    func synthesis(_ task: String, context: String? = nil) -> ExampleSynthesis {
        let contract = TaskContract.parse(task: task, context: context)
        return ExampleSynthesis(task: task, contract: contract, module: contract.module ?? "Solution")
    }

    @Test("the request carries the function, its parameters, the examples and the prose's literals, never the examples' results")
    func request() throws {
        let s = synthesis("Write a module `BaseString` with a function `to_base(n, base)` for bases 2 to 36, digits above 9 as lowercase letters.\n\niex> BaseString.to_base(255, 16)\n\"ff\"\n\n`BaseString.to_base(10, 2) == \"1010\"`")
        let r = try #require(s.request(budget: 2))
        #expect(r.function == "to_base" && r.parameters == ["n", "base"] && r.examples.count == 2)
        #expect(r.constants == ["2", "36", "9"], "the numbers of the prose only")
        #expect(r.words.contains("lowercase") && r.words.contains("bases") && !r.words.contains("basestring"), "\(r.words)")
        #expect(synthesis("Write a module `A` with a function `f(x)` that doubles x.").request(budget: 2) == nil, "nothing to search for without examples")
        let checksum = synthesis("Implement `checksum(data)`: it returns the sum of all bytes of `data`, modulo 256. The checksum of 2.5 is 0.\n\nExample: checksum(<<200, 100>>) returns 44")
        #expect(checksum.request(budget: 2)?.constants == ["256", "0"], "a number that ends a sentence counts, a decimal or a stated result does not")
    }

    @Test("in stub mode the stub's own parameter names are used, and the body goes in place")
    func stub() throws {
        let file = "defmodule Text do\n  def shout(words) do\n    # TODO\n  end\n\n  def quiet(w), do: w\nend\n"
        let s = synthesis("Implement `shout/1`.\n\niex> Text.shout(\"a\")\n\"A\"", context: file)
        #expect(s.request(budget: 1)?.parameters == ["words"])
        #expect(s.code(body: "String.upcase(words)", parameters: ["words"], unused: 0)
            == "defmodule Text do\n  def shout(words) do\n    String.upcase(words)\n  end\n\n  def quiet(w), do: w\nend\n")
    }

    @Test("the words that rank programs come from the prose, not from code spans, calls or examples")
    func proseWords() {
        let s = synthesis("Implement `max_depth(list)`: how deeply lists nest, unlike flatten(list).\n\niex> M.max_depth([[1]])\n2")
        let words = s.request(budget: 1)?.words
        #expect(words == ["deeply", "how", "implement", "list", "lists", "nest", "unlike"], "\(words ?? [])")
    }

    @Test("a new module gets the task's first line as its doc, and a parameter the body does not read an underscore")
    func newModule() {
        let s = synthesis("Write `Pick.first(a, b)` returning a.\n\niex> Pick.first(1, 2)\n1")
        let code = s.code(body: "a", parameters: ["a", "b"], unused: 1)
        #expect(code.contains("defmodule Pick do\n  @moduledoc \"Write Pick.first(a, b) returning a.\"\n\n  def first(a, _b) do\n    a\n  end\nend\n"), "\(code)")
    }

    @Test("a new module defines the task's struct before its function, keeps parameter defaults, and indents a body of several lines")
    func declarations() throws {
        let s = synthesis("Write a module `Salute` that defines a struct with the fields `name` (default nil) and a function `greet(name, opts \\\\ [])`. Options: `:greeting` (default \"Hi\").\n\niex> Salute.greet(\"Ann\", greeting: \"Yo\")\n\"Yo Ann\"")
        let r = try #require(s.request(budget: 1))
        #expect(r.options.map(\.key) == ["greeting"] && r.structure?.module == "Salute" && r.structure?.keywords == "name: nil")
        let code = s.code(body: "greeting = Keyword.get(opts, :greeting, \"Hi\")\n\"#{greeting} #{name}\"", parameters: ["name", "opts"], unused: 0)
        #expect(code.contains("  @moduledoc \"Write a module Salute that defines a struct with the fields name (default nil) and a function greet(name, opts \\\\\\\\ []). Options: :greeting (default 'Hi').\"\n\n  defstruct name: nil\n\n  def greet(name, opts \\\\ []) do\n    greeting = Keyword.get(opts, :greeting, \"Hi\")\n    \"#{greeting} #{name}\"\n  end\nend\n"), "\(code)")
        let file = "defmodule Text do\n  def shout(words) do\n    # TODO\n  end\nend\n"
        let stub = synthesis("Implement `shout/1`.\n\niex> Text.shout(\"a\")\n\"A\"", context: file)
        #expect(stub.code(body: "up = String.upcase(words)\nup", parameters: ["words"], unused: 0) == "defmodule Text do\n  def shout(words) do\n    up = String.upcase(words)\n    up\n  end\nend\n")
    }

    @Test("a program must call the modules and functions the task tells it to use")
    func demands() {
        func p(_ source: String) -> SynthesizedProgram { SynthesizedProgram(source: source, size: 3, unused: 0, affinity: 0, names: 1) }
        let tags = synthesis("Write `Tags.common(a, b)`: the sorted tags in both lists. Use `MapSet`.\n\niex> Tags.common([\"x\", \"y\"], [\"y\"])\n[\"y\"]")
        #expect(tags.meetsDemands(p("a |> MapSet.new() |> MapSet.intersection(MapSet.new(b)) |> Enum.sort()")))
        #expect(!tags.meetsDemands(p("a |> Enum.frequencies() |> Map.take(b) |> Map.keys()")))
        let opts = synthesis("Write `P.validate(opts)` using `Keyword.validate/2`, and use the existing `check/1` helper.")
        #expect(opts.meetsDemands(p("Keyword.validate(opts, page: 1)")) && !opts.meetsDemands(p("Keyword.take(opts, [:page])")),
                "a function by name; the user's lowercase helper is not a demand the search can meet")
    }

    @Test("programs that read every parameter rank first, then smaller ones, then those whose names and documentation match the task's words")
    func ranking() {
        func p(_ source: String, size: Int, unused: Int = 0, affinity: Int = 0, names: Int = 1, described: Int = 0, undescribed: Int = 1,
               partial: Int = 0, literals: Int = 0) -> SynthesizedProgram {
            SynthesizedProgram(source: source, size: size, unused: unused, affinity: affinity, names: names, described: described, undescribed: undescribed,
                               partial: partial, literals: literals)
        }
        let programs = [p("b + b", size: 3, unused: 1, affinity: 1), p("x", size: 5), p("y", size: 4), p("z", size: 5, affinity: 1),
                        p("two of two", size: 6, affinity: 2, names: 2), p("one of two", size: 4, affinity: 1, names: 2),
                        p("documented", size: 5, names: 2, described: 40, undescribed: 0)]
        #expect(ExampleSynthesis.ranked(programs, evidence: .decisive).map(\.source)
                == ["one of two", "two of two", "z", "y", "documented", "x", "b + b"], "at equal size, more of the task's words in the documentation first")
        #expect(ExampleSynthesis.ranked(programs, evidence: .needsWords).map(\.source) == ["two of two", "z"],
                "weak examples: only programs that read every parameter and echo the task's words in two names (or their only one)")
        let alone = [p("smallest", size: 3, names: 2, described: 50, undescribed: 0), p("larger", size: 4, names: 2, described: 90, undescribed: 0),
                     p("undocumented", size: 3, unused: 1)]
        #expect(ExampleSynthesis.ranked(alone, evidence: .needsWords).map(\.source) == ["smallest"],
                "or, being the one smallest program that reads every parameter, in the documentation of every function it calls")
        #expect(ExampleSynthesis.ranked(alone + [p("rival", size: 3)], evidence: .needsWords).isEmpty, "two smallest programs: the example does not choose")
        #expect(ExampleSynthesis.ranked(alone + [p("odd shape", size: 3, described: 60, undescribed: 0, partial: 1)], evidence: .needsWords).map(\.source)
                == ["smallest"], "a program answering probes in another shape than the examples is no rival, and ranks after")
        let defaults = [p("Map.update(m, k, \" \", f)", size: 5, names: 2, undescribed: 0, partial: 2, literals: 1),
                        p("Map.update(m, k, 0, f)", size: 5, names: 2, undescribed: 0, literals: 1), p("Map.update(m, k, n, f)", size: 5, names: 2, undescribed: 0)]
        #expect(ExampleSynthesis.ranked(defaults, evidence: .decisive).map(\.source) == ["Map.update(m, k, n, f)", "Map.update(m, k, 0, f)", "Map.update(m, k, \" \", f)"],
                "the same shape as the examples first, then fewer constants")
        let undocumented = [p("smallest", size: 3, names: 2, undescribed: 1), p("larger", size: 4, names: 2)]
        #expect(ExampleSynthesis.ranked(undocumented, evidence: .needsWords).isEmpty, "a function whose documentation does not echo the task")
        #expect(ExampleSynthesis.ranked(undocumented, evidence: .needsWords, informative: true).map(\.source) == ["smallest"],
                "unless the example's result is one few programs give by chance")
        #expect(ExampleSynthesis.ranked(undocumented + [p("rival", size: 3)], evidence: .needsWords, informative: true).isEmpty)
        let murkier = p("murkier rival", size: 3, undescribed: 2)
        #expect(ExampleSynthesis.ranked(undocumented + [murkier], evidence: .needsWords, informative: true).map(\.source) == ["smallest"],
                "of two smallest, the one whose documentation explains more of it, with an informative result")
        #expect(ExampleSynthesis.ranked(undocumented + [murkier], evidence: .needsWords).isEmpty, "not with an uninformative one")
        #expect(ExampleSynthesis.ranked(programs, evidence: .insufficient).isEmpty)
        func e(_ expected: String...) -> [Example] { expected.map { Example(expression: "M.f(1)", expected: $0) } }
        #expect(ExampleSynthesis.evidence(of: e("3", "4")) == .decisive)
        #expect(ExampleSynthesis.evidence(of: e("3")) == .needsWords)
        #expect(ExampleSynthesis.evidence(of: e("true", "false")) == .insufficient, "two yes-or-no answers")
        #expect(ExampleSynthesis.evidence(of: e("true", "false", "true")) == .needsWords)
        #expect(synthesis("Write `A.f?(x)`.\n\niex> A.f?(1)\ntrue").request(budget: 1) == nil, "nothing is searched on one yes-or-no example")
    }
}
