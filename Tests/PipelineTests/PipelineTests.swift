import Engine
import Foundation
import Pipeline
import Serving
import Testing

/// Counts calls and reports a fixed problem, to drive the loop through repairs.
struct AlwaysBroken: CandidateChecker {
    func problems(in code: String) async throws -> [Problem] {
        [Problem(source: "builtin", check: "Credo.Check.Readability.ModuleDoc", line: 1, message: "Modules should have a @moduledoc tag.")]
    }
}

@Suite("Generate-check-repair", .serialized)
struct PipelineTests {
    static let templates = try! PromptTemplates(directory: TestPaths.repo.appendingPathComponent("templates"))
    static let instance: ModelInstance = {
        var s = InstanceSettings(name: "pipeline-test")
        s.kernels = .exact
        return ModelInstance(model: Shared.model, tokenizer: Shared.tokenizer, settings: s)
    }()

    @Test("templates render the task, the examples and the prefilled answer")
    func prompt() {
        let g = CodeGenerator(instance: Self.instance, templates: Self.templates, checker: ElixirParseChecker())
        let p = g.firstPrompt(task: "Reverse a list.", context: "defmodule Helper do\nend")
        #expect(p.hasPrefix("<|im_start|>system\nYou are an expert Elixir developer."))
        #expect(p.contains("Task: Reverse a list."))
        #expect(p.contains("Example task: Sum a list of integers."))
        #expect(p.contains("defmodule Helper do"))
        #expect(p.hasSuffix("<|im_start|>assistant\n```elixir\ndefmodule ReverseList do\n  @moduledoc \""))
        #expect(!p.contains("&amp;"), "code is not HTML-escaped")
    }

    @Test("the real parser tells valid code from broken code, with a line")
    func parser() async throws {
        let c = ElixirParseChecker()
        #expect(try await c.problems(in: "defmodule A do\n  def f(x), do: x\nend\n").isEmpty)
        let p = try await c.problems(in: "defmodule A do\n  def f(x) do\n    x +\nend\n")
        #expect(p.count == 1)
        #expect(p[0].source == "syntax")
        #expect(p[0].line >= 3)
        #expect(try await c.problems(in: "defmodule\n").first?.check == "ElixirCoder.NoModule")
        #expect(try await c.problems(in: "defmodule A do\n  @x 1\nend\n").first?.check == "ElixirCoder.NoFunction")
    }

    @Test("the persistent checker survives a killed process and rejects oversized input")
    func checkerRecovery() async throws {
        let c = ElixirParseChecker(maxBytes: 1000)
        #expect(try await c.problems(in: "defmodule A do\n  def f, do: 1\nend\n").isEmpty)
        c.killProcess()
        #expect(try await c.problems(in: "defmodule A do\n  def f, do: 1\nend\n").isEmpty, "a dead process is restarted")
        // A request that outlives its timeout gets an error, not a hang; the next one is served.
        let slow = ElixirParseChecker(timeout: 0.05)
        await #expect(throws: PipelineError.self) { try await slow.problems(in: "defmodule A do\n  def f, do: 1\nend\n") }
        await #expect(throws: PipelineError.self) { try await c.problems(in: String(repeating: "x", count: 2000)) }
        #expect(try await c.problems(in: "\u{0}\u{1}garbage((((").first?.source == "syntax")
    }

    @Test("the loop samples candidates, checks them with the real parser and returns code that parses")
    func endToEnd() async throws {
        var o = GenerateOptions()
        o.candidates = 3
        o.maxTokens = 96
        o.maxAttempts = 2
        let g = CodeGenerator(instance: Self.instance, templates: Self.templates, checker: ElixirParseChecker())
        let r = try await g.generate(task: "Write a function that doubles every number in a list.", options: o)
        #expect(r.code.hasPrefix("defmodule DoublesNumber do\n  @moduledoc \""))
        #expect(r.attempts.count >= 1 && r.attempts.count <= 2)
        #expect(r.attempts[0].candidates.count == 3)
        let scores = r.attempts[0].candidates.map(\.meanLogprob)
        #expect(scores == scores.sorted(by: >), "candidates are ranked by mean log-probability")
        if r.status == .clean {
            #expect(try await ElixirParseChecker().problems(in: r.code).isEmpty)
        } else {
            #expect(!r.problems.isEmpty)
        }
        #expect(r.taskHash.count == 64)
    }

    @Test("with nothing clean, every attempt is kept and the best candidate comes back with its problems")
    func exhausted() async throws {
        var o = GenerateOptions()
        o.candidates = 2
        o.maxTokens = 24
        o.maxAttempts = 2
        let g = CodeGenerator(instance: Self.instance, templates: Self.templates, checker: AlwaysBroken())
        let r = try await g.generate(task: "Add two numbers.", options: o)
        #expect(r.status == .problemsRemain)
        #expect(r.attempts.map(\.kind) == ["generate", "repair"])
        #expect(r.problems.first?.check == "Credo.Check.Readability.ModuleDoc")
        let repair = g.repairPrompt(task: "Add two numbers.", candidate: r.attempts[0].candidates[0])
        #expect(repair.contains("line 1: Credo.Check.Readability.ModuleDoc: Modules should have a @moduledoc tag."))
    }
}
