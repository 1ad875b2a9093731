import Checks
import ElixirCoderCore
import Foundation
import Telemetry

/// What the observed generator records besides the answer.
public struct ObservationSettings: Sendable {
    /// Keep up to 127 characters of the task with each event (off: hash only).
    public var promptPreview = false
    /// Keep per-token figures in the log's token table.
    public var tokenTable = false
    /// How long the shadow model may take before its run is abandoned.
    public var shadowTimeout: Duration = .seconds(120)
    /// Share of abstained requests among the last 100 above which `onAlert` is called.
    public var abstainAlertRate = 0.3
    /// Called once when the abstain rate starts exceeding `abstainAlertRate`.
    public var onAlert: @Sendable (AbstainAlert) -> Void = { _ in }
    public init() {}
}

/// The generate loop with its telemetry: every request goes to the inference log and the
/// audit buffer; a shadow model may answer the same task afterwards, for comparison only.
public struct ObservedGenerator: Sendable {
    public let primary: CodeGenerator
    public let primaryVersion: String
    public let shadow: CodeGenerator?
    public let shadowVersion: String?
    public let log: InferenceLog?
    public let audit: AuditBuffer
    public let settings: ObservationSettings

    public init(primary: CodeGenerator, primaryVersion: String, shadow: CodeGenerator? = nil, shadowVersion: String? = nil,
                log: InferenceLog?, audit: AuditBuffer = AuditBuffer(), settings: ObservationSettings = ObservationSettings()) {
        self.primary = primary
        self.primaryVersion = primaryVersion
        self.shadow = shadow
        self.shadowVersion = shadowVersion
        self.log = log
        self.audit = audit
        self.settings = settings
    }

    /// Generates and records the request (also when it fails).
    public func generate(task: String, options: GenerateOptions, requestID: String = UUID().uuidString.lowercased(),
                         progress: @Sendable (String) -> Void = { _ in },
                         onToken: (@Sendable (Int, Int, LiveDelta) -> Void)? = nil) async throws -> GenerateResult {
        let start = Date()
        do {
            let result = try await primary.generate(task: task, options: options, requestID: requestID, progress: progress, onToken: onToken)
            await record(event(for: result, task: task))
            return result
        } catch {
            var e = baseEvent(requestID: requestID, task: task)
            e.latencyMs = Date().timeIntervalSince(start) * 1000
            e.status = .error
            e.error = "\(error)"
            await record(e)
            throw error
        }
    }

    /// Runs the shadow model on the same task after the primary answered, compares the two,
    /// and records the comparison. Never throws: a shadow failure or timeout is only recorded.
    @discardableResult
    public func compareShadow(task: String, options: GenerateOptions, primary result: GenerateResult) async -> ShadowOutcome? {
        guard let shadow, let shadowVersion else { return nil }
        let start = Date()
        var outcome: ShadowOutcome
        do {
            let timeout = settings.shadowTimeout
            let answer = try await withThrowingTaskGroup(of: GenerateResult?.self) { group in
                group.addTask { try await shadow.generate(task: task, options: options, requestID: result.requestID + "-shadow") }
                group.addTask {
                    try await Task.sleep(for: timeout)
                    return nil
                }
                let first = try await group.next()!
                group.cancelAll()
                return first
            }
            let ms = Date().timeIntervalSince(start) * 1000
            if let answer {
                let same = await sameCluster(result.code, answer.code)
                outcome = ShadowOutcome(instance: shadowVersion, status: .success, latencyMs: ms, avgLogprob: answer.confidence.avgLogprob,
                                        logprobDiff: answer.confidence.avgLogprob - result.confidence.avgLogprob, sameCluster: same,
                                        shadowClean: answer.status.isAnswer, primaryClean: result.status.isAnswer)
            } else {
                outcome = ShadowOutcome(instance: shadowVersion, status: .timeout, error: "no answer within \(timeout)", latencyMs: ms)
            }
        } catch {
            outcome = ShadowOutcome(instance: shadowVersion, status: .error, error: "\(error)", latencyMs: Date().timeIntervalSince(start) * 1000)
        }
        log?.recordShadow(requestID: result.requestID, outcome)
        await audit.attachShadow(requestID: result.requestID, outcome)
        return outcome
    }

    /// Same AST cluster: both parse and define the same public functions with the same
    /// error-handling and concurrency style.
    func sameCluster(_ a: String, _ b: String) async -> Bool? {
        guard let pool = primary.monitorPool,
              let fa = try? await pool.facts(a), let fb = try? await pool.facts(b) else { return nil }
        return ProgramShape(fa) == ProgramShape(fb)
    }

    private func record(_ e: InferenceEvent) async {
        log?.record(e)
        await audit.append(e)
        if let alert = await audit.newAlert(threshold: settings.abstainAlertRate) { settings.onAlert(alert) }
    }

    private func baseEvent(requestID: String, task: String) -> InferenceEvent {
        InferenceEvent(requestID: requestID, kind: "generate", instance: primary.instance.name, modelVersion: primaryVersion,
                       promptSHA256: SHA256.taskHash(task, key: primary.taskHashKey), promptPreview: settings.promptPreview ? task : nil)
    }

    func event(for r: GenerateResult, task: String) -> InferenceEvent {
        var e = baseEvent(requestID: r.requestID, task: task)
        e.promptTokens = r.promptTokens
        e.completionTokens = r.attempts.reduce(0) { $0 + $1.candidates.reduce(0) { $0 + $1.tokenCount } }
        e.latencyMs = r.seconds * 1000
        e.confidence = r.confidence
        e.decision = r.gating?.decision
        e.attempts = r.attempts.count
        e.checkOutcome = r.status.rawValue
        if settings.tokenTable, let chosen = r.chosen {
            let tokenizer = primary.instance.tokenizer
            e.tokens = chosen.tokens.map { .init(token: tokenizer.decode([$0.id]), logprob: Double($0.logprob), entropy: Double($0.entropy)) }
        }
        return e
    }
}

/// The facts that put two programs in the same cluster: public API and behaviour, not names of locals.
public struct ProgramShape: Hashable, Sendable {
    public let publicFunctions: [String]
    public let errorHandling: [String]
    public let concurrency: [String]

    public init(_ f: ASTFacts) {
        publicFunctions = f.functions.filter { $0.hasSuffix(" public") }.map { String($0.dropLast(" public".count)) }.sorted()
        errorHandling = Set(f.errorHandling).sorted()
        concurrency = Set(f.concurrency).sorted()
    }
}
