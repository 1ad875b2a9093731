import Checks
@testable import Clarification
import Foundation
import Pipeline
import Serving
import TestSupport
import Testing

@Suite("Clarification arithmetic")
struct ClarificationArithmeticTests {
    @Test("the task's examples, read as generate reads them, are called on the samples' module")
    func examplesOnSamples() {
        let e = Clarifier.examples(task: "Double a number.\n\n    iex> Doubler.double(2)\n    4\n\n`double(-1) == -2`", module: "DoubleNumber")
        #expect(e.map(\.expression) == ["DoubleNumber.double(2)", "DoubleNumber.double(-1)"], "\(e)")
        #expect(e.map(\.expected) == ["4", "-2"])
        #expect(Clarifier.examples(task: "Double a number.", module: "X").isEmpty)
    }

    static let templates = try! QuestionTemplates(file: TestPaths.repo.appendingPathComponent("templates/clarify.json"))

    static func profile(_ fns: [String], errors: [String] = [], conc: [String] = [], data: [String] = []) -> FactProfile {
        FactProfile(values: [.functions: Set(fns), .errorHandling: Set(errors), .concurrency: Set(conc), .dataStructures: Set(data)])
    }

    @Test("entropy: zero for one cluster, ln k for k equal clusters, frequencies and likelihood weights")
    func entropy() {
        #expect(SemanticEntropy.entropy([1]) == 0)
        #expect(abs(SemanticEntropy.entropy([0.5, 0.5]) - log(2)) < 1e-12)
        #expect(abs(SemanticEntropy.entropy([1, 1, 1]) - log(3)) < 1e-12, "unnormalized masses are normalized")
        #expect(abs(SemanticEntropy.entropy([0.6, 0.4, 0]) - -(0.6 * log(0.6) + 0.4 * log(0.4))) < 1e-12)
        #expect(SemanticEntropy.frequencies([[0, 1, 2], [3, 4]]) == [0.6, 0.4])
        let w = SemanticEntropy.likelihoods([[0], [1]], meanLogprobs: [log(0.6), log(0.2)])
        #expect(abs(w[0] - 0.75) < 1e-12 && abs(w[1] - 0.25) < 1e-12)
    }

    @Test("distance is weighted Jaccard over fact groups; clustering groups same-behaviour programs")
    func clustering() {
        let a = Self.profile(["parse/1"], errors: ["tagged_tuples"])
        let b = Self.profile(["parse/1"], errors: ["tagged_tuples"], data: ["map"])
        let c = Self.profile(["parse/1"], errors: ["raise"])
        #expect(FactProfile.distance(a, a) == 0)
        #expect(abs(FactProfile.distance(a, b) - FactGroup.dataStructures.weight) < 1e-12)
        #expect(abs(FactProfile.distance(a, c) - FactGroup.errorHandling.weight) < 1e-12)
        #expect(Clustering.cluster([a, b, c, a], threshold: 0.15) == [[0, 3], [1], [2]])
        #expect(Clustering.cluster([a, b, c, a], threshold: 0.19) == [[0, 1, 3], [2]])
        #expect(Clustering.cluster([a, b, c, a], threshold: 1.01) == [[0, 1, 2, 3]])
        let sig = ClusterSignature(members: [a, b, a])
        #expect(sig[.errorHandling] == ["tagged_tuples"] && sig[.dataStructures] == [], "a value needs half of the members")
    }

    @Test("different answers on the examples split programs that look alike; equal answers keep them together")
    func behaviour() {
        var a = Self.profile(["divide/2"], errors: ["tagged_tuples"])
        var b = a
        a.values[.behaviour] = ["0=2.0", "1={:error, :zero}"]
        b.values[.behaviour] = ["0=2.0", "1=raise ArithmeticError"]
        #expect(Clustering.cluster([a, b], threshold: 0.3).count == 2, "same AST facts, different behaviour")
        var c = Self.profile(["div/2"], errors: ["tagged_tuples"])
        c.values[.behaviour] = a.values[.behaviour]
        #expect(FactProfile.distance(a, c) < FactProfile.distance(a, b))
    }

    @Test("the group that splits the clusters most names the ambiguity")
    func classification() {
        let sigs = [ClusterSignature(members: [Self.profile(["f/1"], errors: ["raise"], data: ["list"])]),
                    ClusterSignature(members: [Self.profile(["g/1"], errors: ["tagged_tuples"], data: ["list", "map"])])]
        let scores = Clarifier.splitScores(sigs, probabilities: [0.6, 0.4])
        #expect(abs((scores[.errorHandling] ?? 0) - 0.24) < 1e-12)
        #expect(abs((scores[.dataStructures] ?? 0) - 0.12) < 1e-12)
        #expect(Clarifier.classify(scores) == .errorHandling, "error handling differs wholly (0.24), data structures by half (0.12)")
        let onlyNames = Clarifier.splitScores([ClusterSignature(members: [Self.profile(["f/1"])]), ClusterSignature(members: [Self.profile(["g/2"])])], probabilities: [0.5, 0.5])
        #expect(Clarifier.classify(onlyNames) == .interface)
    }

    @Test("template questions take the task's words and the clusters' options; EVPI ranks the splitting question first")
    func questionsAndEVPI() {
        let sigs = [ClusterSignature(members: [Self.profile(["f/1"], errors: ["tagged_tuples"])]),
                    ClusterSignature(members: [Self.profile(["f/1"], errors: ["raise"])]),
                    ClusterSignature(members: [Self.profile(["f/1"], errors: ["tagged_tuples"], data: ["map"])])]
        let p = [0.4, 0.4, 0.2]
        let subject = Clarifier.subject(of: "Write a function that parses a date string and handles bad input.")
        #expect(subject == "the function that parses a date string and handles bad input")
        var q = Self.templates.question(.errorHandling, subject: subject, clusters: sigs, probabilities: p)
        #expect(q.text == "How should the function that parses a date string and handles bad input deal with invalid input or failures?")
        #expect(q.options.map(\.text) == ["return {:ok, result} or {:error, reason}", "raise an exception"])
        #expect(abs(q.options[0].probability - 0.6) < 1e-12 && q.options[0].clusters == [0, 2])
        (q.expectedEntropyDrop, q.expectedAccuracyGain) = EVPI.score(q, probabilities: p)
        // Before: H(0.4, 0.4, 0.2). After "tuples": H(2/3, 1/3) with mass 0.6; after "raise": 0.
        let expected = SemanticEntropy.entropy(p) - 0.6 * SemanticEntropy.entropy([0.4, 0.2])
        #expect(abs(q.expectedEntropyDrop - expected) < 1e-12)
        #expect(abs(q.expectedAccuracyGain - (0.4 + 0.4 - 0.4)) < 1e-12)
        var d = Self.templates.question(.dataStructure, subject: subject, clusters: sigs, probabilities: p)
        (d.expectedEntropyDrop, d.expectedAccuracyGain) = EVPI.score(d, probabilities: p)
        #expect(d.expectedEntropyDrop < q.expectedEntropyDrop)
        #expect(EVPI.rank([d, q]).map(\.type) == [.errorHandling, .dataStructure])
    }

    @Test("the task's words: an aspect mentioned but not settled")
    func textSignal() {
        #expect(Self.templates.textSignal("Write a function that divides two numbers safely.").map(\.type) == [.errorHandling])
        #expect(Self.templates.textSignal("Write safe_div(a, b) returning {:error, :zero} for b = 0 and {:ok, q} otherwise, safely.").isEmpty)
        #expect(Self.templates.textSignal("Write a module that checks websites in the background and caches them.").first?.type == .concurrency)
        #expect(Self.templates.textSignal("Write a function sum_squares(list) that returns the sum of squares.").isEmpty)
        let q = Self.templates.textQuestion(.concurrency, subject: "`Checker`")
        #expect(q.options.count == 3 && abs(q.expectedEntropyDrop - log(3)) < 1e-12)
    }

    @Test("model questions are kept only when specific and answerable")
    func modelQuestionFilter() {
        let keywords = Self.templates.entry(.errorHandling).keywords
        #expect(Clarifier.acceptableQuestion("Should invalid dates raise an error or return a tuple?", keywords: keywords) != nil)
        #expect(Clarifier.acceptableQuestion("Should invalid dates raise an error or return a tuple", keywords: keywords) == nil, "no question mark")
        #expect(Clarifier.acceptableQuestion("What do you want?", keywords: keywords) == nil, "names nothing in doubt")
        #expect(Clarifier.acceptableQuestion("Why?", keywords: keywords) == nil, "too short")
    }

    @Test("answers fold into the task by option number or text; pending questions are taken once and expire")
    func sessions() async throws {
        let q = Self.templates.textQuestion(.errorHandling, subject: "`Parser`")
        #expect(Clarifier.fold(task: "Parse dates.", question: q, answer: "1").hasSuffix("Answer: return {:ok, result} or {:error, reason}."))
        #expect(Clarifier.fold(task: "Parse dates.", question: q, answer: "return nil").hasSuffix("Answer: return nil."))
        let sessions = ClarificationSessions(lifetime: 60)
        let analysis = ClarifyAnalysis(verdict: .ask, confidence: 0.2, entropy: 1, likelihoodEntropy: 1, clusters: [], samples: [], ambiguity: .errorHandling,
                                       splitScores: [:], questions: [q], reason: "", seconds: 0, samplesSayAsk: false, sampleAmbiguity: nil, textAspects: [])
        let now = Date()
        let p = try #require(await sessions.open(task: "Parse dates.", analysis: analysis, now: now))
        #expect(try await sessions.take(p.id, now: now).question == q)
        await #expect(throws: ClarificationError.self) { try await sessions.take(p.id, now: now) }
        let old = try #require(await sessions.open(task: "x", analysis: analysis, now: now))
        await #expect(throws: ClarificationError.self) { try await sessions.take(old.id, now: now.addingTimeInterval(61)) }
    }
}

/// The whole flow on the real model and the real checker.
@Suite("Clarification end to end", .serialized)
struct ClarificationFlowTests {
    @Test("an ambiguous task is asked about with ranked questions; answered, it generates code")
    func flow() async throws {
        var s = InstanceSettings(name: "clarify-test")
        s.kernels = .exact
        let instance = ModelInstance(model: Shared.model, tokenizer: Shared.tokenizer, settings: s)
        defer { instance.shutdown() }
        let pool = try CheckerPool(size: 1)
        let generator = CodeGenerator(instance: instance, templates: try PromptTemplates(directory: TestPaths.repo.appendingPathComponent("templates")),
                                      checker: ElixirCandidateChecker(pool: pool))
        var settings = ClarifySettings()
        settings.samples = 3
        settings.maxTokens = 64
        let clarifier = Clarifier(generator: generator, pool: pool, questions: ClarificationArithmeticTests.templates, settings: settings)
        let task = "Write a function that divides two numbers safely."
        let a = try await clarifier.analyze(task: task)
        #expect(a.samples.count == 3)
        #expect(a.entropy >= 0 && a.likelihoodEntropy >= 0)
        #expect(a.clusters.reduce(0) { $0 + $1.size } == a.samples.filter(\.parsed).count)
        #expect(a.verdict == .ask && a.ambiguity == .errorHandling)
        let best = try #require(a.questions.first)
        #expect(best.type == .errorHandling && best.text.hasSuffix("?") && best.options.count >= 2)
        #expect(zip(a.questions, a.questions.dropFirst()).allSatisfy { $0.expectedEntropyDrop >= $1.expectedEntropyDrop })
        let sessions = ClarificationSessions()
        let pending = try #require(await sessions.open(task: task, analysis: a))
        let answered = Clarifier.fold(task: task, question: try await sessions.take(pending.id).question, answer: "1")
        var o = GenerateOptions()
        o.candidates = 2
        o.maxAttempts = 1
        o.maxTokens = 64
        o.gating = nil
        let r = try await generator.generate(task: answered, options: o)
        #expect(r.code.hasPrefix("defmodule"))
        let clear = try await clarifier.analyze(task: "Write a function sum_squares(list) that returns the sum of the squares of a list of integers.")
        #expect(clear.textAspects.isEmpty)
    }
}
