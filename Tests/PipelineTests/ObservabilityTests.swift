import Checks
import Engine
import Foundation
import SQLiteStore
import Pipeline
import Serving
import Telemetry
import TestSupport
import Testing
import Grammar

/// The confidence gate's actions and the shadow model, end to end on the real model.
@Suite("Gating and shadow", .serialized)
struct ObservabilityTests {
    static let task = "Write a function that returns the largest number in a list."

    static func options(_ gate: (inout GatingThresholds) -> Void) -> GenerateOptions {
        var o = GenerateOptions.round(candidates: 2, maxTokens: 64, maxAttempts: 1)
        var g = GatingThresholds()
        gate(&g)
        o.gating = g
        return o
    }

    static func generator(_ instance: ModelInstance = PipelineTests.instance) -> CodeGenerator {
        CodeGenerator(instance: instance, templates: PipelineTests.templates, checker: PipelineTests.checker)
    }

    @Test("proceed: a confident enough answer is returned as it is, with its confidence figures")
    func proceed() async throws {
        let r = try await Self.generator().generate(task: Self.task, options: Self.options { $0.abstainBelowTop1 = 0; $0.reflectBelowAvgLogprob = -100; $0.retrieveAboveEntropy = 100 })
        #expect(r.gating?.decision == .proceed)
        #expect(r.attempts.map(\.kind) == [.generate])
        #expect(r.confidence.tokenCount > 0)
        #expect(r.confidence.avgLogprob < 0)
        #expect(r.confidence.entropy.isFinite && r.confidence.entropy > 0)
        #expect(r.confidence.top1Probability > 0 && r.confidence.top1Probability <= 1)
        #expect(!r.confidence.lowest.isEmpty)
        #expect(r.timings.seconds["sample"] ?? 0 > 0)
    }

    @Test("reflect: a self-review round runs on the first answer")
    func reflect() async throws {
        let r = try await Self.generator().generate(task: Self.task, options: Self.options { $0.reflectBelowAvgLogprob = 0 })
        #expect(r.gating?.decision == .reflect)
        #expect(r.attempts.map(\.kind) == [.generate, .reflect])
        #expect(r.timings.seconds["reflect"] ?? 0 > 0)
        #expect(r.gating?.action.hasPrefix("reflect:") == true)
    }

    @Test("retrieve: passages from the user's files go into a second prompt")
    func retrieve() async throws {
        var g = Self.generator()
        g.retriever = ContextFileRetriever(files: [
            "notes/lists.md": "To find the largest number in a list use Enum.max/1; it raises on an empty list.",
            "notes/http.md": "HTTP clients in Elixir: Req and Finch.",
        ])
        let r = try await g.generate(task: Self.task, options: Self.options { $0.reflectBelowAvgLogprob = -100; $0.retrieveAboveEntropy = 0 })
        #expect(r.gating?.decision == .retrieve)
        #expect(r.gating?.passages?.first?.source == "notes/lists.md")
        #expect(r.attempts.map(\.kind) == [.generate, .retrieve])
        let prompt = g.firstPrompt(task: Self.task, context: nil, passages: r.gating?.passages ?? [])
        #expect(prompt.contains("Reference (notes/lists.md):\nTo find the largest number"))
    }

    @Test("abstain: a clarifying request instead of code; the draft is kept aside")
    func abstain() async throws {
        let r = try await Self.generator().generate(task: Self.task, options: Self.options { $0.reflectBelowAvgLogprob = -100; $0.retrieveAboveEntropy = 100; $0.abstainBelowTop1 = 1.01 })
        #expect(r.status == .abstained)
        #expect(r.code.isEmpty)
        #expect(r.draft?.hasPrefix("defmodule") == true)
        #expect(r.clarification?.contains("Could you say more") == true)
        #expect(r.chosen != nil)
    }

    @Test("every request lands in the SQLite log and the audit buffer, without the task text")
    func logged() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ec-obs-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let log = try InferenceLog(path: dir.appendingPathComponent("log.sqlite").path)
        let observed = ObservedGenerator(primary: Self.generator(), primaryVersion: "smol@test", log: log)
        let r = try await observed.generate(task: Self.task, options: Self.options { _ in })
        await #expect(throws: PipelineError.self) { try await observed.generate(task: "  ", options: Self.options { _ in }) }
        log.close()
        let events = try InferenceSchema.recent(10, in: SQLiteConnection(path: log.path))
        #expect(events.count == 2)
        let ok = try #require(events.first { $0.requestID == r.requestID })
        #expect(ok.status == .success && ok.modelVersion == "smol@test" && ok.checkOutcome == r.status.rawValue)
        #expect(ok.confidence?.avgLogprob == r.confidence.avgLogprob)
        #expect(ok.decision == r.gating?.decision)
        #expect(ok.promptPreview == nil)
        #expect(events.contains { $0.status == .error && $0.error?.contains("empty") == true })
        let bytes = try Data(contentsOf: URL(fileURLWithPath: log.path)) + ((try? Data(contentsOf: URL(fileURLWithPath: log.path + "-wal"))) ?? Data())
        #expect(bytes.range(of: Data("largest number".utf8)) == nil, "the task text is not stored")
        #expect(await observed.audit.summary().count == 2)
    }

    @Test("a failing shadow is recorded and leaves the primary's answer untouched")
    func shadowFailure() async throws {
        var s = InstanceSettings(name: "broken-shadow")
        s.kernels = .exact
        let broken = ModelInstance(model: Shared.model, tokenizer: Shared.tokenizer, settings: s)
        defer { broken.shutdown() }
        let observed = ObservedGenerator(primary: Self.generator(), primaryVersion: "p", shadow: Self.generator(broken), shadowVersion: "s", log: nil)
        let o = Self.options { _ in }
        let r = try await observed.generate(task: Self.task, options: o)
        broken.injectFailure("shadow exploded")
        let outcome = try #require(await observed.compareShadow(task: Self.task, options: o, primary: r))
        #expect(outcome.status == .error)
        #expect(outcome.error?.contains("shadow exploded") == true)
        let recorded = try #require(await observed.audit.recent(1).first)
        #expect(recorded.requestID == r.requestID && recorded.status == .success && recorded.shadow == outcome)
    }

    @Test("a slow shadow times out; a same-model shadow lands in the same cluster")
    func shadowTimeoutAndAgreement() async throws {
        var settings = ObservationSettings()
        settings.shadowTimeout = .milliseconds(1)
        let slow = ObservedGenerator(primary: Self.generator(), primaryVersion: "p", shadow: Self.generator(), shadowVersion: "s", log: nil, settings: settings)
        let o = Self.options { _ in }
        let r = try await slow.generate(task: Self.task, options: o)
        let timedOut = try #require(await slow.compareShadow(task: Self.task, options: o, primary: r))
        #expect(timedOut.status == .timeout)
        let twin = ObservedGenerator(primary: Self.generator(), primaryVersion: "p", shadow: Self.generator(), shadowVersion: "s", log: nil)
        let r2 = try await twin.generate(task: Self.task, options: o)
        let agreed = try #require(await twin.compareShadow(task: Self.task, options: o, primary: r2))
        #expect(agreed.status == .success)
        #expect(agreed.logprobDiff == 0, "same model, same seeds")
        if r2.status != .abstained, (try? await PipelineTests.checker.pool.facts(r2.code)) != nil { #expect(agreed.sameCluster == true) }
    }
}

@Suite("Tests as findings", .serialized)
struct TestsAsFindings {
    @Test("a failing supplied test counts like a finding and is fed to the repair round")
    func failingTest() async throws {
        var o = GenerateOptions.round(candidates: 2, maxTokens: 64, maxAttempts: 2, gated: false)
        o.tests = "defmodule ImpossibleTest do\n  use ExUnit.Case\n  test \"never\", do: assert 1 == 2\nend\n"
        let g = CodeGenerator(instance: PipelineTests.instance, templates: PipelineTests.templates, checker: PipelineTests.checker)
        // Only candidates that compile are tested; a few seeds make sure one does.
        var result: GenerateResult?
        var tested: [Finding] = []
        for seed in 0..<4 where tested.isEmpty {
            o.sampling.seed = UInt64(seed)
            result = try await g.generate(task: "Write a function that returns the largest number in a list.", options: o)
            tested = result!.attempts.flatMap(\.candidates).flatMap(\.problems).filter { $0.source == .tests }
        }
        let r = try #require(result)
        #expect(r.status == .problems)
        #expect(!tested.isEmpty, "candidates that compiled were tested")
        #expect(tested.allSatisfy { $0.check == "ExUnit.Failure" || $0.check == "ExUnit.Run" })
        if r.attempts.count == 2, let fed = r.attempts.first?.candidates.first(where: { $0.problems.contains { $0.source == .tests } }) {
            #expect(g.repairPrompt(task: "t", candidate: fed).contains("ExUnit."))
        }
    }
}

@Suite("Grammar in the loop", .serialized)
struct GrammarInTheLoop {
    @Test("with the grammar mask and the parser monitor, every candidate of generate parses")
    func candidatesParse() async throws {
        let text = try GrammarStore.text(named: "elixir")
        let loaded = try GrammarStore().load(text: text, vocabularyHash: GrammarStore.vocabularyHash(Shared.tokenizer.tokenBytes))
        var o = GenerateOptions.round(candidates: 3, maxTokens: 64, maxAttempts: 1, gated: false, earlyStop: false)
        o.grammar = GrammarEngine(grammar: loaded.grammar, tokenBytes: Shared.tokenizer.tokenBytes, endTokens: Array(Shared.tokenizer.eosTokens).sorted())
        let g = CodeGenerator(instance: PipelineTests.instance, templates: PipelineTests.templates, checker: PipelineTests.checker)
        let r = try await g.generate(task: "Write a function that returns the last element of a list.", options: o)
        let candidates = r.attempts.flatMap(\.candidates)
        #expect(candidates.count == 3)
        for c in candidates {
            #expect(c.meanLogprob.isFinite)
            #expect(try await PipelineTests.checker.pool.syntax(c.code).status == .ok, "\(c.code)")
        }
    }
}

@Suite("Rules at line ends", .serialized)
struct RulesAtLineEnds {
    @Test("a line that trips a blocking rule is dead at its end; other findings and unfinished lines are not")
    func blockingRules() {
        let m = SyntaxMonitor(pool: PipelineTests.checker.pool, prefix: "defmodule Shop do\n  @moduledoc \"Shop.\"\n")
        #expect(m.verdict(for: "  def sort(p) do\n    p\n", final: false) == .viable)
        guard case .dead(let why) = m.verdict(for: "  def sort(p) do\n    IO.inspect(p)\n", final: false) else {
            Issue.record("IO.inspect should end the line")
            return
        }
        #expect(why.contains("Credo.Check.Warning.IoInspect"))
        #expect(m.verdict(for: "  def sort(p) do\n    String.to_atom(p", final: false) == .viable, "judged only at the line end")
        if case .dead(let why) = m.verdict(for: "  def sort(p) do\n    String.to_atom(p)\n", final: false) { #expect(why.contains("DOS.StringToAtom")) } else { Issue.record("String.to_atom should end the line") }
        #expect(m.verdict(for: "  def sortBy(p) do\n    p\n", final: false) == .viable, "a naming finding does not block")
    }
}

@Suite("Prefill for server grammars")
struct PrefillForServerGrammars {
    @Test("with a server-side grammar the answer is prefilled with the fence only, and the code is taken as written")
    func fenceOnly() {
        let g = CodeGenerator(instance: PipelineTests.instance, templates: PipelineTests.templates, checker: PipelineTests.checker)
        #expect(g.firstPrompt(task: "Reverse a list.", context: nil, prefillCode: false).hasSuffix("<|im_start|>assistant\n```elixir\n"))
        #expect(g.firstPrompt(task: "Reverse a list.", context: nil).hasSuffix("defmodule ReverseList do\n  @moduledoc \""))
        #expect(CodeGenerator.extractCode("defmodule A do\nend\n```\ntrailing", head: "") == "defmodule A do\nend\n")
        var o = GenerateOptions()
        #expect(o.prefillsCode)
        o.gbnf = "root ::= \"x\""
        #expect(!o.prefillsCode)
    }
}
