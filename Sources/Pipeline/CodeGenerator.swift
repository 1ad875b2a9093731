import Checks
import ElixirCoderCore
import Engine
import Grammar
import Foundation
import Serving
import Telemetry
import Tokenizer

/// Live text of a candidate while it is sampled.
public enum LiveDelta: Sendable {
    case text(String)
    /// Text shown before that is taken back (a repaired low-confidence token).
    case rollback(String)
}

/// What `generate` should do.
public struct GenerateOptions: Sendable {
    public var candidates = 5
    public var maxAttempts = 3
    public var maxTokens = 256
    public var sampling: SamplingParameters = {
        var p = SamplingParameters()
        // No repetition penalty: code repeats its names, and a penalised ` sum` after `def` became `defsum(...)`.
        p.temperature = 0.7
        return p
    }()
    /// Existing code the task refers to.
    public var context: String?
    /// Let Elixir's parser vet every sampled token and roll back dead lines (needs the checker
    /// pool). On the task set it cut the syntax-error rate of candidates from 91% to 6% for
    /// about 50% more sampling time (see `bench monitor`).
    public var monitor = true
    /// Check candidates as they finish and, once more than half have finished and one is an answer (verified, or compiled with nothing to run),
    /// cancel the rest (the answer then does not wait for the longest candidate).
    public var earlyStop = true
    /// ExUnit tests to run against every candidate that compiles.
    public var tests: String?
    /// Run the examples the task and context carry against every candidate that compiles (in the
    /// compile worker's sandbox).
    public var runExamples = true
    /// Seconds after which no new round starts; a round under way finishes. On `bench quality`
    /// (every other task) 6 s instead of 10 s kept every pass, cost 4 of 75 compiling answers and
    /// brought the median task from 12.3 s to 8.1 s.
    public var timeBudget: Double = 6
    /// Before sampling, search compositions of library calls that give the task's examples
    /// (needs the compile worker); one that compiles, passes the checks and its examples is the answer.
    public var synthesize = true
    /// That search's work, in seconds on a quiet 2-core machine (see `SynthesisRequest.budget`).
    public var synthesisBudget: Double = 3
    /// Per-token confidence repair and the anti-loop guard for every candidate.
    public var repair = RepairPolicy()
    /// Mask every sampled token with this grammar (`grammars/elixir.ebnf`), nil for none.
    public var grammar: GrammarEngine?
    /// A GBNF grammar for a server that constrains on its side. The answer is then prefilled with
    /// the code fence only, because the grammar describes a whole program from its first byte.
    public var gbnf: String?
    /// Whether the answer starts with the module head (`defmodule ... @moduledoc "`).
    public var prefillsCode: Bool { gbnf == nil }
    /// Thresholds of the confidence gate; nil turns gating off.
    public var gating: GatingThresholds? = GatingThresholds()

    public init() {}
}

/// One sampled program with its score and what the checks said.
public struct Candidate: Sendable, Codable {
    public var code: String
    public var meanLogprob: Float
    /// Number of generated tokens.
    public var tokenCount: Int
    /// Lines the monitor rolled back while sampling this candidate.
    public var rollbacks: Int = 0
    /// Low-confidence tokens the repair policy replaced, and repetitions the anti-loop guard saw.
    public var repairs: Int = 0
    public var repetitionHits: Int = 0
    public var problems: [Finding]
    /// What the compiler, the examples and the tests showed; empty until the candidate is checked.
    public var evidence = Evidence()
    public var verdict: Verdict = .problems
    public var confidence: ConfidenceMetrics
    /// The generated tokens with their figures; kept in memory for run logs, not encoded.
    public var tokens: [GeneratedToken] = []

    /// What a checked candidate is, on the evidence.
    public enum Verdict: String, Sendable, Codable {
        /// Compiled without a warning, every check clean, and the task's examples or tests ran and passed.
        case verified
        /// Compiled without a warning and every check clean, with nothing to run.
        case compiled
        /// Something is wrong, or it could not be compiled.
        case problems
    }

    enum CodingKeys: String, CodingKey { case code, meanLogprob, tokenCount = "tokens", rollbacks, repairs, repetitionHits, problems, evidence, verdict, confidence }

    /// Takes a checker's judgement.
    mutating func apply(_ evaluation: Evaluation) {
        problems = evaluation.problems
        evidence = evaluation.evidence
        verdict = problems.isEmpty && evidence.compiled == true ? (evidence.behaviourPassed ? .verified : .compiled) : .problems
    }

    /// Whether the loop can stop at this candidate: verified, or compiled when there is nothing to run.
    func isAnswer(for contract: TaskContract) -> Bool {
        verdict == .verified || (verdict == .compiled && !contract.hasBehaviour)
    }

    /// Ranked on evidence: passes its examples and tests, then passes more of them, then compiles,
    /// then without warnings, then fewer other problems, then more likely.
    public func isBetter(than other: Candidate) -> Bool { rank < other.rank }

    private var rank: (Int, Int, Int, Int, Int, Float) {
        (evidence.behaviourPassed ? 0 : 1, -(evidence.examplesPassed + evidence.testsPassed), evidence.compiled == true ? 0 : 1,
         evidence.compilerWarnings, problems.count, -meanLogprob)
    }
}

/// One round of sampling (the first, a repair, or a gating action's).
public struct Attempt: Sendable, Codable {
    public var kind: AttemptKind
    /// Candidates best-ranked first (by mean log-probability).
    public var candidates: [Candidate]
    public var seconds: Double
}

/// How a round of candidates came about.
public enum AttemptKind: String, Sendable, Codable, CaseIterable {
    /// A search over library compositions that give the task's examples, before any sampling.
    case synthesize
    /// The model's first round.
    case generate
    /// A round that repairs the best candidate so far, its findings in the prompt.
    case repair
    /// The gate's self-review of an answer with low confidence.
    case reflect
    /// The gate's retrieval round: passages from the index or the context in the prompt.
    case retrieve

    /// The phase the round's sampling is timed under.
    var samplePhase: String { self == .generate ? "sample" : rawValue }
    /// The phase its checking is timed under.
    var checkPhase: String { self == .generate ? "check" : rawValue }
}

/// What the confidence gate decided and what the pipeline did about it.
public struct GatingReport: Sendable, Codable {
    public var decision: GatingDecision
    /// Confidence of the answer the gate judged.
    public var confidence: ConfidenceMetrics
    public var thresholds: GatingThresholds
    /// What was done, in words.
    public var action: String
    /// Whether the action replaced the answer.
    public var changedAnswer: Bool
    /// Passages the retrieve action added to the prompt.
    public var passages: [Passage]?
}

/// The outcome of the generate-check-repair loop.
public struct GenerateResult: Sendable, Codable {
    public enum Status: String, Sendable, Codable {
        /// Compiled without a warning, every check clean, and the task's examples or the caller's tests passed.
        case verified
        /// Compiled without a warning and every check clean; nothing was given to run.
        case compiled
        /// The best candidate, with the problems left in it.
        case problems
        /// The model was too unsure to answer: `clarification` asks the user for more, `code` is empty.
        case abstained

        /// Verified or compiled: code that compiled and passed every check.
        public var isAnswer: Bool { self == .verified || self == .compiled }

        init(_ verdict: Candidate.Verdict) {
            switch verdict {
            case .verified: self = .verified
            case .compiled: self = .compiled
            case .problems: self = .problems
            }
        }
    }
    public var requestID: String
    public var status: Status
    public var code: String
    public var problems: [Finding]
    /// What the status rests on: compiled or not, warnings, examples and tests run and passed.
    public var evidence: Evidence
    /// What the task demands, as read from it and its context.
    public var contract: TaskContract
    /// 1-based attempt that produced `code`.
    public var attempt: Int
    public var attempts: [Attempt]
    /// SHA-256 of the task text; the task itself is not kept.
    public var taskHash: String
    /// Confidence of the returned code's tokens.
    public var confidence: ConfidenceMetrics
    /// nil when gating is off.
    public var gating: GatingReport?
    /// The request for more detail when the gate abstained.
    public var clarification: String?
    /// The code the gate held back when it abstained.
    public var draft: String?
    public var promptTokens: Int
    public var timings: PhaseTimings
    public var seconds: Double

    /// One line on what the answer is and the evidence it rests on.
    public var summary: String {
        let e = evidence
        var shown: [String] = []
        if e.examplesRun > 0 { shown.append("\(e.examplesPassed)/\(e.examplesRun) examples passed") }
        if e.testsRun > 0 { shown.append("\(e.testsPassed)/\(e.testsRun) tests passed") }
        let on = " on attempt \(attempt) of \(attempts.count)"
        switch status {
        case .verified:
            return "verified" + on + ": compiled without warnings, checks clean, " + shown.joined(separator: ", ")
        case .compiled:
            return "compiled" + on + ": compiled without warnings, checks clean; no examples or tests to run"
        case .abstained:
            return "abstained: the model was too unsure to answer"
        case .problems:
            let compiled = e.compiled == true ? "compiles" : e.compiled == false ? "does not compile" : "not compiled"
            return "problems after \(attempts.count) attempt(s): the best candidate \(compiled)" + (shown.isEmpty ? "" : ", " + shown.joined(separator: ", "))
                + "; \(problems.count) problem(s): " + problems.map { "line \($0.line): \($0.message)" }.joined(separator: "; ")
        }
    }

    /// The candidate behind `code` (the best draft when abstained).
    public var chosen: Candidate? {
        let shown = draft ?? code
        return attempts.indices.contains(attempt - 1) ? attempts[attempt - 1].candidates.first { $0.code == shown } : nil
    }
}

/// The code around what the model writes: the prefilled head, the rest of the file after it (stub
/// mode), and where sampling stops.
public struct Scaffold: Sendable, Equatable {
    /// Code prefilled at the start of the answer.
    public var head: String
    /// Code that follows the generated part (the stub's `end` and the rest of the file).
    public var tail: String
    public var stops: [String]
    /// Whether the generated part is a function's body that must not be empty (stub mode):
    /// its first token may not be one that `leavesBodyEmpty`.
    public var requiresBody = false

    /// A new module named `module`, its head prefilled.
    public static func module(_ module: String) -> Scaffold {
        Scaffold(head: CodeGenerator.codePrefix(module: module), tail: "", stops: ["```"])
    }

    /// The body of a stub: the file up to its `def` line and the body's first indentation is
    /// prefilled, and sampling stops at the `end` that closes it.
    public static func stub(_ stub: Stub) -> Scaffold {
        // An `end` at the def's indentation or less closes the def, whatever the model indents it by.
        // The model's likeliest body is none at all (`end` at once), so the body's first line is
        // begun for it and must start with code (`requiresBody`).
        Scaffold(head: stub.head + "\n" + stub.indent + "  ", tail: "\n" + stub.tail,
                 stops: ["```"] + (0...stub.indent.count).map { "\n" + String(repeating: " ", count: $0) + "end" }, requiresBody: true)
    }

    /// A new module whose one function's head is prefilled up to its parameters, so the model
    /// goes on with a guard, `do:` or a block as the few-shot examples do, and may add helpers. The task
    /// names that one function with its parameters; the module's doc is the task's first line,
    /// and the struct the task describes comes before the function.
    public static func function(_ head: FunctionHead, module: String, task: String, structure: StructDefinition? = nil) -> Scaffold {
        Scaffold(head: moduleHead(module: module, task: task, structure: structure) + "  def \(head.signature())", tail: "", stops: ["```"])
    }

    /// `defmodule`, its doc and the task's struct, up to where the first function goes.
    static func moduleHead(module: String, task: String, structure: StructDefinition?) -> String {
        "defmodule \(module) do\n  @moduledoc \"\(moduledoc(task: task))\"\n\n" + (structure.map { "  defstruct \($0.keywords)\n\n" } ?? "")
    }

    /// Whether `text`, coming first in a body, would leave the body empty: blank, a line break
    /// before any code, a comment, or `end`.
    public static func leavesBodyEmpty(_ text: String) -> Bool {
        let lead = text.prefix { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }
        let rest = text.dropFirst(lead.count)
        if lead.contains("\n") || rest.isEmpty || rest.hasPrefix("#") { return true }
        guard rest.hasPrefix("end") else { return false }
        return !(rest.dropFirst(3).first.map { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "?" || $0 == "!" || $0 == ":" } ?? false)
    }

    /// The tokens of a vocabulary that `leavesBodyEmpty`.
    public static func emptyBodyTokens(_ tokenBytes: [[UInt8]]) -> Set<Int> {
        Set(tokenBytes.indices.filter { leavesBodyEmpty(String(decoding: tokenBytes[$0], as: UTF8.self)) })
    }

    /// The task's first line as the text of a `@moduledoc "..."`. Its double quotes become single
    /// ones: escaped quotes in a string are what Credo's `StringSigils` reports.
    static func moduledoc(task: String) -> String {
        (task.components(separatedBy: "\n").first ?? "").replacingOccurrences(of: "`", with: "")
            .replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "'").replacingOccurrences(of: "#{", with: "\\#{")
            .trimmingCharacters(in: .whitespaces)
    }

    /// Nothing prefilled, for a server that constrains the whole program with its own grammar.
    public static let none = Scaffold(head: "", tail: "", stops: ["```"])

    /// The whole program: head, the generated text up to a closing fence, tail.
    public func code(from generated: String) -> String {
        var body = generated
        if let fence = body.range(of: "```") { body = String(body[..<fence.lowerBound]) }
        if !tail.isEmpty {
            // The body ends where the stub's `end` begins; a trailing newline would double it.
            while body.hasSuffix("\n") { body.removeLast() }
        }
        return (head + body + tail).trimmingCharacters(in: .whitespacesAndNewlines) + "\n"
    }
}

/// Turns a task into Elixir code: prompt, sample N candidates, check, compile and run the
/// task's examples, rank on that evidence, repair.
public struct CodeGenerator: Sendable {
    public let instance: any InferenceBackend
    public let templates: PromptTemplates
    public let checker: any CandidateChecker
    /// The parser used as a decoding monitor, when there is one.
    public let monitorPool: CheckerPool?
    /// Where the retrieve action of the confidence gate finds passages.
    public var retriever: (any PassageRetriever)?
    /// Searches library compositions that give the task's examples; nil for none.
    public var synthesizer: (any ExampleSynthesizer)?
    /// The installation's secret for task hashes (`Paths.taskHashKey()`); empty for plain SHA-256.
    public var taskHashKey: [UInt8] = []
    /// Task and context bytes taken at most, before any tokenizing.
    public static let maxInputBytes = 256 * 1024

    /// Whether `code` still ends with the stub file's `tail` (the stub's `end` and what follows
    /// it), whatever the formatter did to its spacing.
    static func keepsTail(_ tail: String, of code: String) -> Bool {
        code.filter { !$0.isWhitespace }.hasSuffix(tail.filter { !$0.isWhitespace })
    }

    /// The answer starts here so the model writes an Elixir module, not prose or Python.
    public static func prefill(module: String) -> String { "```elixir\n" + codePrefix(module: module) }

    /// The part of the prefill that is code.
    public static func codePrefix(module: String) -> String { "defmodule \(module) do\n  @moduledoc \"" }

    /// A module name from the task's content words ("sum the squares of a list" -> `SumSquares`).
    public static func moduleName(for task: String) -> String {
        let skip: Set<String> = ["a", "an", "the", "write", "function", "functions", "module", "that", "which", "returns", "return", "of", "to",
                                 "for", "in", "and", "or", "with", "from", "elixir", "implement", "create", "given", "by", "it", "is", "its", "into", "on", "as", "each", "every"]
        let words = task.lowercased().split { !$0.isLetter }.map(String.init).filter { !skip.contains($0) && $0.count > 2 }
        let name = words.prefix(2).map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined()
        return name.isEmpty ? "Solution" : name
    }

    /// The module a candidate defines: the one the task or its context names, else one made from the task's words.
    public static func moduleName(for task: String, contract: TaskContract) -> String {
        contract.module ?? moduleName(for: task)
    }

    public init(instance: any InferenceBackend, templates: PromptTemplates, checker: any CandidateChecker, monitorPool: CheckerPool? = nil) {
        self.instance = instance
        self.templates = templates
        self.checker = checker
        self.monitorPool = monitorPool ?? (checker as? ElixirCandidateChecker)?.pool
        self.synthesizer = (checker as? ElixirCandidateChecker)?.compiler
    }

    /// What the answer of a task starts with: the stub's file head in stub mode, else a module head.
    public static func scaffold(task: String, contract: TaskContract, prefillCode: Bool = true) -> Scaffold {
        scaffolds(task: task, contract: contract, prefillCode: prefillCode)[0]
    }

    /// The scaffolds a round's candidates take in turn: where the task spells out its one function,
    /// half start at a bare module head and half at the function's head, for programs of two shapes
    /// to choose from on evidence.
    public static func scaffolds(task: String, contract: TaskContract, prefillCode: Bool = true) -> [Scaffold] {
        guard prefillCode else { return [.none] }
        if let stub = contract.stub { return [.stub(stub)] }
        let module = moduleName(for: task, contract: contract)
        return [.module(module)] + (contract.head.map { [.function($0, module: module, task: task, structure: contract.structure)] } ?? [])
    }

    /// The chat prompt for a first attempt, ending with the prefilled answer.
    public func firstPrompt(task: String, context: String?, passages: [Passage] = [], prefillCode: Bool = true) -> String {
        let contract = TaskContract.parse(task: task, context: context)
        return firstPrompt(task: task, context: context, scaffold: Self.scaffold(task: task, contract: contract, prefillCode: prefillCode), passages: passages)
    }

    public func firstPrompt(task: String, context: String?, scaffold: Scaffold, passages: [Passage] = []) -> String {
        let user = templates.render("generate", [
            "task": task,
            "context": context as Any,
            "passages": passages.map { ["source": $0.source, "text": $0.text] },
            "examples": templates.examples.map { ["task": $0.task, "code": $0.code] },
        ])
        return chat(user, scaffold: scaffold)
    }

    /// The repair prompt of a task's first scaffold.
    public func repairPrompt(task: String, candidate: Candidate) -> String {
        repairPrompt(task: task, candidate: candidate, scaffold: Self.scaffold(task: task, contract: TaskContract.parse(task: task)))
    }

    /// The repair prompt: the task, the best candidate and its problems with line numbers.
    func repairPrompt(task: String, candidate: Candidate, scaffold: Scaffold) -> String {
        let user = templates.render("repair", [
            "task": task,
            "code": candidate.code,
            "findings": candidate.problems.map { ["line": $0.line, "check": $0.check, "message": $0.message] },
        ])
        return chat(user, scaffold: scaffold)
    }

    /// The prompt in the model's own chat markup, the answer prefilled through the scaffold's head.
    private func chat(_ user: String, scaffold: Scaffold) -> String {
        ChatTemplate.forModel(instance.tokenizer.chatTemplate).render([.system(templates.render("system", [:])), .user(user)]) + "```elixir\n" + scaffold.head
    }

    /// The prompt of a self-review pass over `code`.
    func reflectPrompt(task: String, code: String, scaffold: Scaffold) -> String {
        chat(templates.render("reflect", ["task": task, "code": code]), scaffold: scaffold)
    }

    /// What `options` and the task demand of a candidate.
    public static func contract(task: String, options: GenerateOptions) -> TaskContract {
        var contract = TaskContract.parse(task: task, context: options.context)
        contract.tests = options.tests
        if !options.runExamples { contract.examples = [] }
        return contract
    }

    /// Runs the loop, then the confidence gate; never throws for bad candidates, only when the
    /// model or checker cannot run.
    /// - Parameter progress: one line per step, for stderr.
    /// - Parameter onToken: live text of each candidate as it is sampled (attempt, candidate, delta).
    public func generate(task: String, options: GenerateOptions = GenerateOptions(), requestID: String = UUID().uuidString.lowercased(),
                         progress: @Sendable (String) -> Void = { _ in },
                         onToken: (@Sendable (Int, Int, LiveDelta) -> Void)? = nil) async throws -> GenerateResult {
        guard !task.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { throw PipelineError("the task is empty") }
        // Tokenizing is linear, but nobody should wait for it on a megabyte that cannot fit anyway.
        let bytes = task.utf8.count + (options.context?.utf8.count ?? 0)
        guard bytes <= Self.maxInputBytes else {
            throw PromptTooLong(message: "the task and context are \(bytes) bytes; at most \(Self.maxInputBytes) are taken")
        }
        let started = Date()
        var timings = PhaseTimings()
        let contract = Self.contract(task: task, options: options)
        let scaffolds = Self.scaffolds(task: task, contract: contract, prefillCode: options.prefillsCode)
        if contract.stub != nil { progress("stub mode: writing the body of \(contract.stub!.function) in place") }
        if !contract.examples.isEmpty { progress("\(contract.examples.count) example(s) from the task will be run against candidates that compile") }
        // The stub's placeholder body is left out of the prompt: shown, the model copies it.
        let shownContext = contract.stub.map { $0.head + "\n" + $0.tail } ?? options.context
        let first = { firstPrompt(task: task, context: shownContext, scaffold: $0) }
        let promptTokens = instance.tokenizer.encode(first(scaffolds[0]), parseSpecial: true).count
        if let limit = instance.contextLength, promptTokens + options.maxTokens > limit {
            throw PromptTooLong(message: "the prompt (task, context and instructions) is \(promptTokens) tokens and the answer may take \(options.maxTokens); the model holds \(limit) in all: shorten the context or the task")
        }
        let setting = Setting(task: task, contract: contract, scaffolds: scaffolds, options: options, started: started)
        let synthesis = ExampleSynthesis(task: task, contract: contract, module: Self.moduleName(for: task, contract: contract))
        var synthesized: Attempt?
        if options.synthesize, let synthesizer, let request = synthesis.request(budget: options.synthesisBudget) {
            let (attempt, answer) = try await synthesize(request, with: synthesizer, synthesis: synthesis, timings: &timings, progress: progress)
            if let answer {
                return GenerateResult(requestID: requestID, status: .init(answer.verdict), code: answer.code, problems: answer.problems, evidence: answer.evidence,
                                      contract: contract, attempt: 1, attempts: [attempt], taskHash: SHA256.taskHash(task, key: taskHashKey), confidence: answer.confidence,
                                      gating: nil, clarification: nil, draft: nil, promptTokens: promptTokens, timings: timings, seconds: Date().timeIntervalSince(started))
            }
            synthesized = attempt
        }
        var run = try await loop(setting, prompt: first, kinds: [.generate, .repair], timings: &timings, progress: progress, onToken: onToken)
        if let synthesized {
            // The search comes first in the record, though it gave no answer.
            run.attempts.insert(synthesized, at: 0)
            run.chosenAttempt += 1
        }
        var result = GenerateResult(requestID: requestID, status: .init(run.chosen.verdict), code: run.chosen.code,
                                    problems: run.chosen.problems, evidence: run.chosen.evidence, contract: contract, attempt: run.chosenAttempt, attempts: run.attempts,
                                    taskHash: SHA256.taskHash(task, key: taskHashKey), confidence: run.chosen.confidence, gating: nil, clarification: nil,
                                    draft: nil, promptTokens: promptTokens, timings: timings, seconds: 0)
        // Evidence outranks the model's confidence: a verified answer is not second-guessed.
        if let thresholds = options.gating, result.status != .verified {
            let judged = run.chosen.confidence
            let decision = thresholds.decide(judged)
            var report = GatingReport(decision: decision, confidence: judged, thresholds: thresholds, action: "answered", changedAnswer: false)
            progress("gate: \(decision.rawValue) (mean logprob \(String(format: "%.2f", judged.avgLogprob)), entropy \(String(format: "%.2f", judged.entropy)), top-1 \(String(format: "%.2f", judged.top1Probability)))")
            var second: Outcome?
            var once = setting
            once.options.maxAttempts = 1
            switch decision {
            case .proceed:
                break
            case .reflect:
                second = try await loop(once, prompt: { reflectPrompt(task: task, code: run.chosen.code, scaffold: $0) }, kinds: [.reflect],
                                        timings: &timings, progress: progress, onToken: onToken)
            case .retrieve:
                let query = ([task] + run.chosen.problems.map { "\($0.check) \($0.message)" }).joined(separator: "\n")
                let passages = try await retriever?.passages(for: query, limit: 3) ?? []
                report.passages = passages
                if passages.isEmpty {
                    report.action = "no passages found to retrieve; answered without them"
                } else {
                    second = try await loop(once, prompt: { firstPrompt(task: task, context: shownContext, scaffold: $0, passages: passages) },
                                            kinds: [.retrieve], timings: &timings, progress: progress, onToken: onToken)
                }
            case .abstain:
                result.status = .abstained
                result.draft = result.code
                result.code = ""
                let spots = judged.lowest.prefix(3).map { ["text": $0.text.trimmingCharacters(in: .whitespacesAndNewlines)] }.filter { !($0["text"] ?? "").isEmpty }
                result.clarification = templates.render("abstain", ["count": judged.lowest.count, "spots": Array(spots.prefix(1))])
                    .trimmingCharacters(in: .whitespacesAndNewlines)
                report.action = "abstained: asked for clarification instead of answering"
            }
            if let second {
                let offset = run.attempts.count
                run.attempts += second.attempts
                result.attempts = run.attempts
                if second.chosen.isBetter(than: run.chosen) {
                    result.code = second.chosen.code
                    result.problems = second.chosen.problems
                    result.evidence = second.chosen.evidence
                    result.status = .init(second.chosen.verdict)
                    result.attempt = offset + second.chosenAttempt
                    result.confidence = second.chosen.confidence
                    report.changedAnswer = true
                    report.action = String(format: "%@: the new answer replaced the first (%@ with %d problem(s), was %@ with %d; mean logprob %.2f, was %.2f)", decision.rawValue,
                                           second.chosen.verdict.rawValue, second.chosen.problems.count, run.chosen.verdict.rawValue, run.chosen.problems.count,
                                           second.chosen.meanLogprob, run.chosen.meanLogprob)
                } else {
                    report.action = "\(decision.rawValue): the new answer was not better; kept the first"
                }
            }
            result.gating = report
        }
        result.timings = timings
        result.seconds = Date().timeIntervalSince(started)
        return result
    }

    /// Searches programs that give the examples, then compiles and checks the best few; the first
    /// that is an answer is returned with the attempt.
    private func synthesize(_ request: SynthesisRequest, with synthesizer: any ExampleSynthesizer, synthesis: ExampleSynthesis,
                            timings: inout PhaseTimings, progress: @Sendable (String) -> Void) async throws -> (Attempt, Candidate?) {
        let start = Date()
        progress("synthesize: searching library compositions that give the \(request.examples.count) example(s)")
        let found: SynthesisResult
        do {
            found = try await synthesizer.synthesize(request)
        } catch let error as CheckerError {
            // The search is a shortcut: when it fails, the model still writes the code.
            progress("synthesize: \(error.message)")
            return (Attempt(kind: .synthesize, candidates: [], seconds: Date().timeIntervalSince(start)), nil)
        }
        timings.add(AttemptKind.synthesize.rawValue, Date().timeIntervalSince(start))
        let checkStart = Date()
        var candidates: [Candidate] = []
        var answer: Candidate?
        let evidence = ExampleSynthesis.evidence(of: request.examples)
        let worth = ExampleSynthesis.ranked(found.programs.filter(synthesis.meetsDemands), evidence: evidence, informative: found.informative)
        for program in worth.prefix(ExampleSynthesis.candidateLimit) {
            var c = Candidate(code: synthesis.code(body: program.source, parameters: found.params, unused: program.unused), meanLogprob: 0, tokenCount: 0,
                              problems: [], confidence: ConfidenceMetrics(tokens: []))
            c.code = await checker.normalize(c.code)
            c.apply(try await checker.evaluate(c.code, contract: synthesis.contract))
            candidates.append(c)
            if c.isAnswer(for: synthesis.contract) { answer = c; break }
        }
        timings.add("check", Date().timeIntervalSince(checkStart))
        let outcome = answer.map { "; one is \($0.verdict.rawValue)" }
            ?? (found.programs.isEmpty ? "" : worth.isEmpty ? "; with one example, none also echoes the task's words" : "; none passed the checks")
        progress("synthesize: \(found.programs.count) program(s) give the examples" + outcome)
        return (Attempt(kind: .synthesize, candidates: candidates, seconds: Date().timeIntervalSince(start)), answer)
    }

    /// What one request's rounds share.
    struct Setting {
        var task: String
        var contract: TaskContract
        /// Taken in turn by a round's candidates.
        var scaffolds: [Scaffold]
        var options: GenerateOptions
        var started: Date
    }

    /// Rounds of sampling and checking from one prompt.
    struct Outcome {
        var attempts: [Attempt]
        var chosen: Candidate
        /// 1-based index into `attempts`.
        var chosenAttempt: Int
    }

    /// Samples and checks until a candidate is an answer (verified, or compiled with nothing to
    /// run), `options.maxAttempts` rounds ran or the time budget is spent; each round after the
    /// first repairs the best candidate so far.
    /// - Parameter kinds: the attempt kind of the first round, then of the rest; also the timing phases.
    /// - Parameter first: the first round's prompt, ending in a scaffold's head.
    private func loop(_ setting: Setting, prompt first: @escaping (Scaffold) -> String, kinds: [AttemptKind], timings: inout PhaseTimings,
                      progress: @Sendable (String) -> Void, onToken: (@Sendable (Int, Int, LiveDelta) -> Void)?) async throws -> Outcome {
        let options = setting.options, scaffolds = setting.scaffolds
        var attempts: [Attempt] = []
        var prompt = first
        var best: (candidate: Candidate, attempt: Int)?
        // Decoding the whole vocabulary takes a few milliseconds: once per generation, not per round.
        let emptyBody = scaffolds.contains(where: \.requiresBody) ? Scaffold.emptyBodyTokens(instance.tokenizer.tokenBytes) : []
        for n in 1...max(1, options.maxAttempts) {
            if n > 1, Date().timeIntervalSince(setting.started) > options.timeBudget {
                progress("the time budget (\(Int(options.timeBudget)) s) is spent; no further round")
                break
            }
            let kind = kinds[min(n, kinds.count) - 1]
            let start = Date()
            progress("\(kind): sampling \(options.candidates) candidates")
            let ids = scaffolds.map { instance.tokenizer.encode(prompt($0), parseSpecial: true) }
            let monitors: [(any PrefixMonitor)?] = scaffolds.map { scaffold in
                options.monitor ? monitorPool.map { SyntaxMonitor(pool: $0, prefix: scaffold.head, suffix: scaffold.tail) } : nil
            }
            let requests = (0..<options.candidates).map { i -> GenerationRequest in
                let v = i % scaffolds.count
                var s = options.sampling
                s.seed = options.sampling.seed &+ UInt64(attempts.count * 1000 + n * 1000 + i)
                // The top-1 probability feeds the confidence gate.
                s.topLogprobs = max(1, s.topLogprobs)
                var r = GenerationRequest(prompt: ids[v], maxTokens: options.maxTokens, sampling: s, stop: scaffolds[v].stops, monitor: monitors[v])
                r.repair = options.repair
                r.gbnf = options.gbnf
                if scaffolds[v].requiresBody { r.bannedAtStart = emptyBody }
                // Under the grammar the parser needs to see only whole lines.
                r.monitorEveryDraw = options.grammar == nil
                return r
            }
            let processors: [(any LogitsProcessor)?]? = try options.grammar.map { engine in
                try requests.indices.map { try GrammarConstraint(engine: engine, prefix: scaffolds[$0 % scaffolds.count].head, maxTokens: requests[$0].maxTokens) }
            }
            let round = try await sampleAndCheck(requests, processors: processors, setting: setting, attempt: n,
                                                 onToken: onToken, progress: { progress("\(kind): \($0)") })
            timings.add(kind.samplePhase, round.sampleSeconds)
            timings.add(kind.checkPhase, round.checkSeconds)
            let candidates = round.candidates
            attempts.append(Attempt(kind: kind, candidates: candidates, seconds: Date().timeIntervalSince(start)))
            if let answer = round.answer {
                return Outcome(attempts: attempts, chosen: answer, chosenAttempt: n)
            }
            // The candidate to repair: the best on evidence. Without an answer, every candidate was checked.
            let pick = candidates.min { $0.isBetter(than: $1) }!
            if best == nil || pick.isBetter(than: best!.candidate) { best = (pick, n) }
            progress("\(kind): no candidate passed; the best has \(pick.problems.count) problem(s) (\(pick.evidence.compiled == true ? "compiles" : "does not compile"))")
            let repairOf = best!.candidate
            prompt = { repairPrompt(task: setting.task, candidate: repairOf, scaffold: $0) }
        }
        return Outcome(attempts: attempts, chosen: best!.candidate, chosenAttempt: best!.attempt)
    }

    /// One round of candidates, checked as they finish (best mean log-probability first among the
    /// finished ones). With `options.earlyStop`, once more than half have finished and one of them is
    /// an answer the rest are cancelled, so the answer does not wait for the longest candidate.
    /// - Returns: the finished candidates, best-ranked first (some unchecked when an answer was found), and the answer.
    private func sampleAndCheck(_ requests: [GenerationRequest], processors: [(any LogitsProcessor)?]?, setting: Setting, attempt n: Int,
                                onToken: (@Sendable (Int, Int, LiveDelta) -> Void)?,
                                progress: @Sendable (String) -> Void) async throws -> (candidates: [Candidate], answer: Candidate?, sampleSeconds: Double, checkSeconds: Double) {
        let tokenizer = instance.tokenizer
        let start = Date()
        let quorum = setting.options.earlyStop ? requests.count / 2 + 1 : requests.count
        var checked: [Candidate] = [], waiting: [Candidate] = []
        var finishedCount = 0
        var sampleSeconds: Double?
        var checkSeconds = 0.0
        var answer: Candidate?
        let streams = instance.stream(requests, processors: processors)
        try await withThrowingTaskGroup(of: (Int, GenerationResult)?.self) { group in
            for (i, stream) in streams.enumerated() {
                group.addTask {
                    var result: GenerationResult?
                    for try await e in stream {
                        switch e {
                        case .token(_, let delta): onToken?(n, i, .text(delta))
                        case .repair(let r):
                            // Shown, then taken back, so a live view sees the repair happen.
                            onToken?(n, i, .text(r.originalText))
                            onToken?(n, i, .rollback(r.originalText))
                        case .finished(let r): result = r
                        }
                    }
                    if result == nil && !Task.isCancelled { throw PipelineError("candidate \(i + 1) ended without a result") }
                    // Broken weights: no candidate from them means anything, and repair cannot help.
                    if result?.finishReason == .invalidLogits { throw PipelineError("the model produced NaN or infinite logits; its weights are likely corrupt") }
                    return result.map { (i, $0) }
                }
            }
            while let next = try await group.next() {
                guard let (i, r) = next else { continue }
                finishedCount += 1
                if finishedCount == requests.count { sampleSeconds = Date().timeIntervalSince(start) }
                waiting.append(Candidate(code: setting.scaffolds[i % setting.scaffolds.count].code(from: r.text), meanLogprob: r.meanLogprob, tokenCount: r.tokens.count, rollbacks: r.rollbacks,
                                         repairs: r.repairs.count, repetitionHits: r.repetitionHits, problems: [],
                                         confidence: ConfidenceMetrics(tokens: r.tokens, source: r.alternativesOnly ? .topK : .fullDistribution, text: { tokenizer.decode([$0]) }),
                                         tokens: r.tokens))
                guard finishedCount >= quorum else { continue }
                if finishedCount == quorum { progress("checking") }
                waiting.sort { $0.meanLogprob > $1.meanLogprob }
                let checkStart = Date()
                while !waiting.isEmpty {
                    var c = waiting.removeFirst()
                    let normalized = await checker.normalize(c.code)
                    // Closing a cut-off stub body can cut the rest of the user's file; such a
                    // candidate keeps its text (and its syntax error), never the shortened file.
                    if setting.contract.stub.map({ Self.keepsTail($0.tail, of: normalized) }) ?? true { c.code = normalized }
                    c.apply(try await checker.evaluate(c.code, contract: setting.contract))
                    checked.append(c)
                    if c.isAnswer(for: setting.contract) { answer = c; break }
                }
                checkSeconds += Date().timeIntervalSince(checkStart)
                if answer != nil {
                    if finishedCount < requests.count { progress("a \(answer!.verdict.rawValue) candidate after \(finishedCount) of \(requests.count); the rest are cancelled") }
                    group.cancelAll()
                    break
                }
            }
        }
        if answer == nil && finishedCount < requests.count {
            // Only the caller's cancellation stops sampling without an answer.
            try Task.checkCancellation()
            throw PipelineError("only \(finishedCount) of \(requests.count) candidates finished")
        }
        let candidates = (checked + waiting).sorted { $0.meanLogprob > $1.meanLogprob }
        return (candidates, answer, sampleSeconds ?? Date().timeIntervalSince(start), checkSeconds)
    }

    /// The module the model wrote after the prefill, up to the closing fence.
    public static func extractCode(_ generated: String, module: String) -> String {
        Scaffold.module(module).code(from: generated)
    }

    /// The prefilled code `head` and what the model wrote after it, up to the closing fence.
    public static func extractCode(_ generated: String, head: String) -> String {
        Scaffold(head: head, tail: "", stops: ["```"]).code(from: generated)
    }
}
