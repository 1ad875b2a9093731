import Checks
import ElixirCoderCore
import Engine
import Foundation
import Pipeline
import Serving
import Tokenizer

/// Settings of the ambiguity detector.
public struct ClarifySettings: Sendable, Codable {
    /// Programs to sample for the spread signal. Off by default: on the development part the
    /// learned text signal decides alone (see docs/clarification.md), and sampling costs ~10 s.
    public var samples = 0
    public var temperature: Float = 0.8
    public var maxTokens = 160
    /// Ask when the semantic entropy (nats, from cluster frequencies) is above this.
    public var entropyThreshold = 0.5
    /// Ask when there are at least this many clusters.
    public var clusterThreshold = 3
    /// Programs closer than this (weighted Jaccard distance of their facts) share a cluster.
    public var linkageThreshold = 0.3
    /// Also ask the model for a question of the winning type.
    public var modelQuestions = true
    /// Also read the task's own words: an aspect it mentions without settling (see `templates/clarify.json`).
    public var useTextSignal = true
    /// Run every sample on the task's `iex>` examples (separate process, timeout, no network) and
    /// cluster by what they return as well. Executes generated code, so only when asked.
    public var executeExamples = false
    /// Count only samples the compiler accepts (the sandboxed compile worker) in the spread; with
    /// this model most samples do not compile, and those spread on every task, clear or not.
    public var compiledOnly = true
    /// Read the model's embedding of the task with the trained classifier (`templates/clarify_classifier.json`).
    public var useLearnedSignal = true
    public var seed: UInt64 = 0
    public init() {}
}

/// One sampled program and where it landed.
public struct SampleSummary: Sendable, Codable {
    public var code: String
    public var meanLogprob: Double
    public var parsed: Bool
    /// Index into the clusters; nil when the program did not parse.
    public var cluster: Int?
}

/// One cluster: its mass and what its programs do.
public struct ClusterSummary: Sendable, Codable {
    public var size: Int
    public var frequency: Double
    public var likelihood: Double
    public var signature: ClusterSignature
    /// The groups where this cluster differs from the others, with its values there.
    public var distinguishing: [String: [String]]
}

/// The detector's verdict on a task.
public struct ClarifyAnalysis: Sendable, Codable {
    public enum Verdict: String, Sendable, Codable { case ask, proceed }
    public var verdict: Verdict
    /// With the learned signal and no samples, P(ambiguous) when asking and 1 - P when proceeding; otherwise the
    /// largest cluster's share when proceeding, and 1 minus the entropy's share of its maximum when asking.
    public var confidence: Double
    /// Semantic entropy over cluster frequencies (nats).
    public var entropy: Double
    /// Semantic entropy over clusters weighted by the samples' length-normalized likelihood.
    public var likelihoodEntropy: Double
    public var clusters: [ClusterSummary]
    public var samples: [SampleSummary]
    public var ambiguity: AmbiguityType?
    /// How strongly each fact group splits the clusters (pairwise probability-weighted distance).
    public var splitScores: [String: Double]
    /// Best first.
    public var questions: [RankedQuestion]
    public var reason: String
    public var seconds: Double
    /// What the sampled programs alone said.
    public var samplesSayAsk: Bool
    public var sampleAmbiguity: AmbiguityType?
    /// Aspects the task's words leave open, most mentioned first.
    public var textAspects: [TextAspect]
    /// Examples each sample was run on (0 when none were run).
    public var examplesRun = 0
    /// The learned text signal: the classifier's reading of the model's embedding of the task.
    public var learned: LearnedSignal?
    /// Samples the compiler accepted (nil when none were compiled).
    public var compiledSamples: Int?

    /// What the classifier over the task's embedding said.
    public struct LearnedSignal: Sendable, Codable, Equatable {
        /// P(ambiguous).
        public var ambiguity: Double
        /// The classifier's threshold for asking.
        public var threshold: Double
        public var saysAsk: Bool
        /// The most likely kind, and each kind's probability given that the task is ambiguous.
        public var kind: AmbiguityType
        public var kinds: [String: Double]
        public var seconds: Double
    }

    /// An aspect the task mentions without settling it, and the words that showed it.
    public struct TextAspect: Sendable, Codable, Equatable {
        public var type: AmbiguityType
        public var words: [String]
    }
}

/// A question waiting for its answer.
public struct PendingClarification: Sendable, Codable {
    public var id: String
    public var task: String
    public var question: RankedQuestion
    public var alternatives: [RankedQuestion]
    public var created: Date
}

/// Detects ambiguous tasks by semantic entropy over sampled programs and picks the question
/// whose answer is worth the most.
public struct Clarifier: Sendable {
    public let generator: CodeGenerator
    public let pool: CheckerPool
    public let questions: QuestionTemplates
    public var settings: ClarifySettings
    /// The learned text signal's parts; without them the detector falls back to the word list.
    public let embedder: TextEmbedder?
    public let classifier: TaskClassifier?

    public init(generator: CodeGenerator, pool: CheckerPool, questions: QuestionTemplates, settings: ClarifySettings = ClarifySettings(),
                embedder: TextEmbedder? = nil, classifier: TaskClassifier? = nil) {
        self.generator = generator
        self.pool = pool
        self.questions = questions
        self.settings = settings
        self.embedder = embedder
        self.classifier = classifier
    }

    /// The classifier's input for a task, as it was trained on it (`classifierInput`); nil without an embedder.
    public func embedding(of task: String) -> [Float]? {
        embedder.map { Self.classifierInput(task, embedder: $0, tokenizer: generator.instance.tokenizer, questions: questions) }
    }

    /// What the classifier reads: the embedding and zero-shot scores (`embedding(of:embedder:tokenizer:)`),
    /// then the catalogue's selecting words (`QuestionTemplates.selectingWords`).
    public static func classifierInput(_ task: String, embedder: TextEmbedder, tokenizer: Tokenizer, questions: QuestionTemplates) -> [Float] {
        embedding(of: task, embedder: embedder, tokenizer: tokenizer) + questions.selectingWords(task)
    }

    /// The task inside a question about what it leaves open (`embeddingFrame`): the mean of the
    /// final hidden states over the task's own tokens, then the state at the frame's last token,
    /// where the model is about to name what is unspecified, then the zero-shot scores (`features`).
    public static func embedding(of task: String, embedder: TextEmbedder, tokenizer tok: Tokenizer) -> [Float] {
        let f = features(of: task, embedder: embedder, tokenizer: tok)
        return f.embedding + f.zeroShot.map(Float.init)
    }

    /// The classifier's two inputs: the pooled hidden states (mean over the task's tokens, then
    /// the frame's last state) and the zero-shot scores (`zeroShotContinuations`: the
    /// log-probability of each kind's name as the frame's continuation, less their mean, so that
    /// only which kind the model prefers counts, not how likely any continuation is).
    public static func features(of task: String, embedder: TextEmbedder, tokenizer tok: Tokenizer) -> (embedding: [Float], zeroShot: [Double]) {
        let head = tok.encode(Self.embeddingFrame.head, parseSpecial: false)
        let body = tok.encode(task.trimmingCharacters(in: .whitespacesAndNewlines), parseSpecial: false)
        let tail = tok.encode(Self.embeddingFrame.tail, parseSpecial: false)
        let (states, scores) = embedder.hiddenStates(head + body + tail, continuations: zeroShotContinuations.map { tok.encode($0.text, parseSpecial: false) })
        let mean = scores.reduce(0, +) / Double(max(1, scores.count))
        let embedding = TextEmbedder.mean(states[head.count..<(head.count + body.count)], dimension: embedder.dimension) + states[states.count - 1]
        return (embedding, scores.map { $0 - mean })
    }

    /// What the model may say a task leaves unspecified, after the frame, per kind ("nothing" for a clear task).
    public static let zeroShotContinuations: [(kind: AmbiguityType?, text: String)] = [
        (.errorHandling, " error handling"), (.concurrency, " concurrency"), (.dataStructure, " data structure"),
        (.externalDependency, " library"), (.inputOutput, " input/output format"), (.edgeCases, " edge cases"), (nil, " nothing"),
    ]

    /// Text around the task when embedding it (training and use must agree).
    static let embeddingFrame = (head: "Programming task:\n", tail: "\nWhat does this task leave unspecified (error handling, concurrency, data structure, library, input/output format, edge cases, or nothing)? It leaves unspecified")

    /// The learned signal for a task, nil without an embedder and classifier.
    public func learnedSignal(_ task: String) throws -> ClarifyAnalysis.LearnedSignal? {
        guard settings.useLearnedSignal, let classifier, let start = Optional(Date()), let x = embedding(of: task) else { return nil }
        guard x.count == classifier.dimension else {
            throw ClarificationError("the clarification classifier expects embeddings of width \(classifier.dimension), this model gives \(x.count); retrain it with `elixir-coder-bench clarify --train`")
        }
        let p = classifier.ambiguity(x)
        let kinds = classifier.kindProbabilities(x)
        let kind = kinds.max { ($0.value, $1.key.rawValue) < ($1.value, $0.key.rawValue) }!.key
        return .init(ambiguity: p, threshold: classifier.threshold, saysAsk: p >= classifier.threshold, kind: kind,
                     kinds: Dictionary(uniqueKeysWithValues: kinds.map { ($0.key.rawValue, $0.value) }), seconds: Date().timeIntervalSince(start))
    }

    /// Samples, clusters, measures the entropy, decides, and ranks questions.
    public func analyze(task: String, progress: @Sendable (String) -> Void = { _ in }) async throws -> ClarifyAnalysis {
        guard !task.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { throw ClarificationError("the task is empty") }
        let start = Date()
        let text = settings.useTextSignal ? questions.textSignal(task) : []
        var analysis = ClarifyAnalysis(verdict: .proceed, confidence: 0, entropy: 0, likelihoodEntropy: 0, clusters: [], samples: [], ambiguity: nil,
                                       splitScores: [:], questions: [], reason: "", seconds: 0,
                                       samplesSayAsk: false, sampleAmbiguity: nil, textAspects: text.map { .init(type: $0.type, words: $0.hits) })
        var reasons: [String] = []
        let learned = try learnedSignal(task)
        analysis.learned = learned
        if let learned {
            reasons.append(String(format: "learned: P(ambiguous) %.2f %@ %.2f, kind %@ (%.0f%%)", learned.ambiguity, learned.saysAsk ? ">=" : "<",
                                  learned.threshold, learned.kind.rawValue, (learned.kinds[learned.kind.rawValue] ?? 0) * 100))
        }
        var signatures: [ClusterSignature] = []
        var freq: [Double] = []
        var scores: [FactGroup: Double] = [:]
        if settings.samples >= 2 {
            progress("clarify: sampling \(settings.samples) programs")
            let samples = try await sample(task: task)
            analysis.samples = samples.map { SampleSummary(code: $0.code, meanLogprob: $0.meanLogprob, parsed: $0.facts != nil, cluster: nil) }
            var parsed = samples.indices.filter { samples[$0].facts != nil }
            var probed: [Int: Set<String>] = [:]
            if settings.compiledOnly, let compiler = (generator.checker as? ElixirCandidateChecker)?.compiler {
                // Compiled and called on probe inputs: only programs that run can disagree in meaning.
                let probes = Self.examples(task: task, module: CodeGenerator.moduleName(for: task))
                    + Probes.calls(module: CodeGenerator.moduleName(for: task), functions: parsed.map { FactProfile(samples[$0].facts!)[.functions] })
                progress("clarify: compiling \(parsed.count) parsed samples with \(probes.count) probe call(s)")
                var kept: [Int] = []
                for i in parsed {
                    guard let report = try? await compiler.compile(samples[i].code, examples: probes), report.compiled else { continue }
                    kept.append(i)
                    probed[i] = Set(report.examples.enumerated().map { "\($0.offset)=\($0.element.actual)" })
                }
                analysis.compiledSamples = kept.count
                parsed = kept
            }
            if parsed.count >= 2 {
                var profiles = parsed.map { FactProfile(samples[$0].facts!) }
                for (k, i) in parsed.enumerated() where probed[i].map({ !$0.isEmpty }) == true { profiles[k].values[.behaviour] = probed[i] }
                let examples = settings.executeExamples && probed.isEmpty ? Self.examples(task: task, module: CodeGenerator.moduleName(for: task)) : []
                if !examples.isEmpty {
                    progress("clarify: running \(examples.count) example(s) on \(parsed.count) samples")
                    for (k, i) in parsed.enumerated() {
                        let code = samples[i].code
                        let values = try? await Task.detached { try TestRunner().evaluate(code: code, expressions: examples.map(\.expression)) }.value
                        profiles[k].values[.behaviour] = values.flatMap { $0 }.map { Set($0.enumerated().map { "\($0.offset)=\($0.element)" }) } ?? ["does not run"]
                    }
                    analysis.examplesRun = examples.count
                }
                let local = Clustering.cluster(profiles, threshold: settings.linkageThreshold)
                for (c, members) in local.enumerated() { for m in members { analysis.samples[parsed[m]].cluster = c } }
                freq = SemanticEntropy.frequencies(local)
                let lik = SemanticEntropy.likelihoods(local, meanLogprobs: parsed.map { samples[$0].meanLogprob })
                signatures = local.map { ClusterSignature(members: $0.map { profiles[$0] }) }
                analysis.entropy = SemanticEntropy.entropy(freq)
                analysis.likelihoodEntropy = SemanticEntropy.entropy(lik)
                scores = Self.splitScores(signatures, probabilities: freq)
                analysis.splitScores = Dictionary(uniqueKeysWithValues: scores.map { ($0.key.rawValue, $0.value) })
                analysis.clusters = local.indices.map { i in
                    ClusterSummary(size: local[i].count, frequency: freq[i], likelihood: lik[i], signature: signatures[i],
                                   distinguishing: Self.distinguishing(i, signatures))
                }
                analysis.samplesSayAsk = analysis.entropy > settings.entropyThreshold || local.count >= settings.clusterThreshold
                if analysis.samplesSayAsk { analysis.sampleAmbiguity = Self.classify(scores) }
                reasons.append(String(format: "samples: entropy %.2f %@ %.2f, %d cluster(s) %@ %d", analysis.entropy,
                                      analysis.entropy > settings.entropyThreshold ? ">" : "<=", settings.entropyThreshold, local.count,
                                      local.count >= settings.clusterThreshold ? ">=" : "<", settings.clusterThreshold))
            } else {
                reasons.append("samples: only \(parsed.count) of \(samples.count) \(analysis.compiledSamples == nil ? "parsed" : "compiled"), too few to compare")
            }
        }
        if let first = text.first {
            reasons.append("task text: mentions \(first.type.rawValue) (\(first.hits.joined(separator: ", "))) without settling it")
        } else if settings.useTextSignal {
            reasons.append("task text: no open aspect")
        }
        analysis.reason = reasons.joined(separator: "; ")
        let ask = Self.decide(learned: learned, samples: analysis.samplesSayAsk, words: !text.isEmpty)
        analysis.verdict = ask ? .ask : .proceed
        if let learned, freq.isEmpty {
            analysis.confidence = ask ? learned.ambiguity : 1 - learned.ambiguity
        } else {
            analysis.confidence = ask ? max(0, 1 - analysis.entropy / log(Double(max(2, settings.samples)))) : (freq.max() ?? 1)
        }
        if ask {
            analysis.ambiguity = learned?.kind ?? text.first?.type ?? analysis.sampleAmbiguity
            analysis.questions = try await rankedQuestions(task: task, signatures: signatures, probabilities: freq, scores: scores,
                                                           text: text.map(\.type), top: analysis.ambiguity, learned: learned)
            // The kind asked about is the best question's.
            analysis.ambiguity = analysis.questions.first?.type ?? analysis.ambiguity
        }
        analysis.seconds = Date().timeIntervalSince(start)
        return analysis
    }

    /// The documented rule (docs/clarification.md), calibrated on the development part: with the
    /// learned signal, ask when it says so, or when the compiled samples spread and the task's words
    /// leave an aspect open (two weak signals agreeing); without it, when either weak signal says so.
    public static func decide(learned: ClarifyAnalysis.LearnedSignal?, samples: Bool, words: Bool) -> Bool {
        guard let learned else { return samples || words }
        return learned.saysAsk || (samples && words)
    }

    /// Either the question to ask first or, when the task is clear, the generated code.
    public enum Outcome: Sendable {
        case question(PendingClarification, ClarifyAnalysis)
        case code(GenerateResult, ClarifyAnalysis)
    }

    /// `ask_clarification`: analyzes the task and keeps its best question pending; nil when the task is clear.
    public func askClarification(task: String, sessions: ClarificationSessions) async throws -> (PendingClarification?, ClarifyAnalysis) {
        let a = try await analyze(task: task)
        return (await sessions.open(task: task, analysis: a), a)
    }

    /// `answer_clarification`: folds the answer into the pending task and generates.
    /// - Parameter generate: the generate step (the observed generator, so the request is logged).
    public static func answerClarification(id: String, answer: String, sessions: ClarificationSessions,
                                           generate: (String) async throws -> GenerateResult) async throws -> GenerateResult {
        let p = try await sessions.take(id)
        return try await generate(fold(task: p.task, question: p.question, answer: answer))
    }

    /// `generate_with_clarification`: a question when the task is ambiguous, else the code.
    public func generateWithClarification(task: String, sessions: ClarificationSessions,
                                          generate: (String) async throws -> GenerateResult) async throws -> Outcome {
        let (pending, analysis) = try await askClarification(task: task, sessions: sessions)
        if let pending { return .question(pending, analysis) }
        return .code(try await generate(task), analysis)
    }

    /// The task with the user's answer folded in.
    public static func fold(task: String, question: RankedQuestion, answer: String) -> String {
        let trimmed = answer.trimmingCharacters(in: .whitespacesAndNewlines)
        let chosen = Int(trimmed).flatMap { n in question.options.first { $0.label == n }?.text } ?? trimmed
        return task.trimmingCharacters(in: .whitespacesAndNewlines) + "\n\nClarification: \(question.text) Answer: \(chosen)."
    }

    // MARK: - Sampling

    struct Sample {
        var code: String
        var meanLogprob: Double
        var facts: ASTFacts?
    }

    func sample(task: String) async throws -> [Sample] {
        let instance = generator.instance
        let module = CodeGenerator.moduleName(for: task)
        let ids = instance.tokenizer.encode(generator.firstPrompt(task: task, context: nil), parseSpecial: true)
        let monitor: (any PrefixMonitor)? = generator.monitorPool.map { SyntaxMonitor(pool: $0, prefix: CodeGenerator.codePrefix(module: module)) }
        let requests = (0..<settings.samples).map { i -> GenerationRequest in
            var s = GenerateOptions().sampling
            s.temperature = settings.temperature
            s.seed = settings.seed &+ UInt64(i) &* 7919
            return GenerationRequest(prompt: ids, maxTokens: settings.maxTokens, sampling: s, stop: ["```"], monitor: monitor)
        }
        var out: [Sample] = []
        for r in try await instance.generate(requests) {
            let code = await generator.checker.normalize(CodeGenerator.extractCode(r.text, module: module))
            out.append(Sample(code: code, meanLogprob: Double(r.meanLogprob), facts: try? await pool.facts(code)))
        }
        return out
    }

    // MARK: - Evidence and classification

    /// The task's examples (as `TaskContract` reads them), called on `module`, the module the samples define.
    static func examples(task: String, module: String) -> [Example] {
        TaskContract.parse(task: task).examples.map { e in
            var e = e
            // `Doubler.double(2)` becomes `<module>.double(2)`: the samples are named from the task's words.
            if let open = e.expression.firstIndex(of: "("), e.expression[..<open].contains("."),
               let name = e.expression[..<open].split(separator: ".").last {
                e.expression = module + "." + name + e.expression[open...]
            }
            return e
        }
    }

    /// Σ over cluster pairs of p_i p_j times their distance in the group.
    public static func splitScores(_ sigs: [ClusterSignature], probabilities p: [Double]) -> [FactGroup: Double] {
        var out: [FactGroup: Double] = [:]
        for g in FactGroup.allCases {
            var s = 0.0
            for i in sigs.indices { for j in sigs.indices where j > i {
                s += p[i] * p[j] * FactProfile.jaccardDistance(Set(sigs[i][g]), Set(sigs[j][g]))
            } }
            out[g] = s
        }
        return out
    }

    /// The behaviour that splits the clusters most; the interface when only names differ.
    public static func classify(_ scores: [FactGroup: Double]) -> AmbiguityType {
        let behaviour: [AmbiguityType] = [.errorHandling, .concurrency, .dataStructure, .externalDependency]
        let best = behaviour.max { (scores[$0.group] ?? 0) < (scores[$1.group] ?? 0) }!
        if (scores[best.group] ?? 0) > 0 { return best }
        return (scores[.imports] ?? 0) > (scores[.functions] ?? 0) ? .externalDependency : .interface
    }

    static func distinguishing(_ i: Int, _ sigs: [ClusterSignature]) -> [String: [String]] {
        var out: [String: [String]] = [:]
        for g in FactGroup.allCases where sigs.indices.contains(where: { $0 != i && Set(sigs[$0][g]) != Set(sigs[i][g]) }) {
            out[g.rawValue] = sigs[i][g]
        }
        return out
    }

    // MARK: - Questions

    /// Catalogue questions for the kinds likely open (weighted by the classifier's kind probabilities,
    /// or shared equally among the words' aspects and `top` without it), and template questions for
    /// the groups the samples split on (EVPI over their clusters); best first.
    func rankedQuestions(task: String, signatures: [ClusterSignature], probabilities p: [Double], scores: [FactGroup: Double],
                         text: [AmbiguityType], top: AmbiguityType?, learned: ClarifyAnalysis.LearnedSignal?) async throws -> [RankedQuestion] {
        let subject = Self.subject(of: task)
        var weight: [AmbiguityType: Double] = [:]
        if let learned {
            for (k, v) in learned.kinds { if let t = AmbiguityType(rawValue: k) { weight[t] = v } }
        } else {
            let kinds = Set(text + (top.map { [$0] } ?? []))
            for t in kinds { weight[t] = 1 / Double(kinds.count) }
        }
        // Kinds under a tenth are not worth the user's time, unless the verdict named them.
        var qs: [RankedQuestion] = weight.filter { $0.value >= 0.1 || $0.key == top }.sorted { $0.key.rawValue < $1.key.rawValue }
            .compactMap { questions.catalogueQuestion($0.key, task: task, subject: subject, weight: $0.value) }
        for t in AmbiguityType.allCases where (scores[t.group] ?? 0) > 0 {
            var q = questions.question(t, subject: subject, clusters: signatures, probabilities: p)
            guard q.options.count >= 2 else { continue }
            (q.expectedEntropyDrop, q.expectedAccuracyGain) = EVPI.score(q, probabilities: p)
            qs.append(q)
        }
        qs = EVPI.rank(qs)
        if settings.modelQuestions, let first = qs.first, let text = try await modelQuestion(task: task, type: first.type) {
            // A free answer resolves the same doubt as the best question, less reliably.
            qs.append(RankedQuestion(type: first.type, text: text, options: [], origin: "model", expectedEntropyDrop: first.expectedEntropyDrop * 0.8,
                                     expectedAccuracyGain: first.expectedAccuracyGain * 0.8))
        }
        return EVPI.rank(qs)
    }

    /// "the function that …" from "Write a function that …", else the module name the prompt uses.
    public static func subject(of task: String) -> String {
        let first = task.split(separator: ".", maxSplits: 1).first.map(String.init) ?? task
        for lead in ["write a function that ", "write a module that ", "implement a function that ", "create a function that ", "write a function to ",
                     "implement a module that ", "create a module that "] where first.lowercased().hasPrefix(lead) {
            let noun = lead.contains("module") ? "the module that " : (lead.hasSuffix("to ") ? "the function to " : "the function that ")
            let rest = first.dropFirst(lead.count).split(separator: " ").prefix(12).joined(separator: " ")
            return noun + rest
        }
        return "`\(CodeGenerator.moduleName(for: task))`"
    }

    /// One question from the model about `type`, kept only if specific and answerable.
    func modelQuestion(task: String, type: AmbiguityType) async throws -> String? {
        let e = questions.entry(type)
        let instance = generator.instance
        let user = "Task: \(task)\nThe task does not say \(e.ask). Write one short question to ask the user about it."
        let prompt = ChatTemplate.forModel(instance.tokenizer.chatTemplate).render([.user(user)], defaultSystem: false)
        var s = SamplingParameters()
        s.temperature = 0.3
        s.seed = settings.seed
        let r = try await instance.generate([GenerationRequest(prompt: instance.tokenizer.encode(prompt, parseSpecial: true), maxTokens: 40, sampling: s, stop: ["\n"])])[0]
        return Self.acceptableQuestion(r.text, keywords: e.keywords)
    }

    /// Ends with a question mark, 4 to 25 words, names the thing in doubt.
    public static func acceptableQuestion(_ raw: String, keywords: [String]) -> String? {
        let text = raw.trimmingCharacters(in: .whitespacesAndNewlines)
        let words = text.split(whereSeparator: \.isWhitespace)
        guard text.hasSuffix("?"), (4...25).contains(words.count) else { return nil }
        let lower = text.lowercased()
        return keywords.contains { lower.contains($0) } ? text : nil
    }
}

/// Questions waiting for answers, per id; they expire.
public actor ClarificationSessions {
    public let lifetime: TimeInterval
    private var pending: [String: PendingClarification] = [:]

    public init(lifetime: TimeInterval = 15 * 60) {
        self.lifetime = lifetime
    }

    /// Keeps the analysis's best question; returns its pending record, or nil when there is nothing to ask.
    public func open(task: String, analysis: ClarifyAnalysis, now: Date = Date()) -> PendingClarification? {
        expire(now)
        guard analysis.verdict == .ask, let best = analysis.questions.first else { return nil }
        let p = PendingClarification(id: UUID().uuidString.lowercased(), task: task, question: best, alternatives: Array(analysis.questions.dropFirst()), created: now)
        pending[p.id] = p
        return p
    }

    /// Takes the pending question `id` (once).
    public func take(_ id: String, now: Date = Date()) throws -> PendingClarification {
        expire(now)
        guard let p = pending.removeValue(forKey: id) else {
            throw ClarificationError("no pending clarification with id \(id) (it was answered, expired after \(Int(lifetime / 60)) minutes, or never existed)")
        }
        return p
    }

    public var count: Int { pending.count }

    private func expire(_ now: Date) {
        pending = pending.filter { now.timeIntervalSince($0.value.created) < lifetime }
    }
}
