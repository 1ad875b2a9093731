import Checks
import ElixirCoderCore
import Engine
import Foundation
import Pipeline
import Serving
import Synchronization
import Telemetry

/// A request to a service that cannot be answered, with what the caller should do.
public struct ServiceError: Error, Sendable, CustomStringConvertible {
    /// Whose fault it is: the caller's parameters, a part that is missing, or the server.
    public enum Code: Sendable { case invalidParams, unavailable, internalError }
    public let code: Code
    public let message: String
    public var description: String { message }

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }
}

/// What the audit answers, for both servers: the summary, recent events, the registry, health
/// and the counters behind `/metrics`. The figures come from the generation setup's audit ring
/// buffer and inference log once a setup is attached (the stdio server loads it on first use).
public final class AuditService: Sendable {
    /// The most events `recent` returns at once.
    public static let recentLimits = 1...1000

    private struct State {
        var setup: GenerationSetup?
        var served = 0
        var failed = 0
        var metrics = RequestMetrics()
    }

    private let state = Mutex(State())
    private let started = Date()
    /// A checker for the health probe when no setup is loaded yet (stdio answers `check` with it).
    private let checker: CheckerPool?
    /// The registry as configured, for a server that has not loaded its models yet.
    private let configuredRegistry: @Sendable () throws -> ModelRegistry

    /// - Parameters:
    ///   - checker: the pool the health probe asks when no setup is attached.
    ///   - configuredRegistry: the registry from the configuration, used before a setup is attached.
    public init(checker: CheckerPool?, configuredRegistry: @escaping @Sendable () throws -> ModelRegistry) {
        self.checker = checker
        self.configuredRegistry = configuredRegistry
    }

    /// Starts reading the figures of `setup` (its audit buffer, log and engine).
    public func attach(_ setup: GenerationSetup) {
        state.withLock { $0.setup = setup }
    }

    private var setup: GenerationSetup? { state.withLock { $0.setup } }

    /// Counts a finished generate request for health and `/metrics`: its status and gate decision
    /// (nil result: it failed) and how long it took.
    public func record(_ result: GenerateResult?, seconds: Double) {
        state.withLock {
            if result == nil { $0.failed += 1 } else { $0.served += 1 }
            $0.metrics.record(result, seconds: seconds)
        }
    }

    /// The live buffer's summary with the models, the statuses and the abstain alert.
    public func summary() async -> AuditReport {
        guard let setup else { return AuditReport(events: [], registry: nil, alertThreshold: 0.3) }
        let events = await setup.observed.audit.recent(setup.observed.audit.capacity)
        return AuditReport(events: events, registry: setup.registry, alertThreshold: setup.config.abstainAlertRate ?? 0.3)
    }

    /// The newest `limit` events, newest first.
    /// - Throws: `ServiceError.invalidParams` when `limit` is outside `recentLimits`.
    public func recent(limit: Int) async throws(ServiceError) -> [InferenceEvent] {
        guard Self.recentLimits.contains(limit) else {
            throw ServiceError(.invalidParams, "limit must be an integer from \(Self.recentLimits.lowerBound) to \(Self.recentLimits.upperBound)")
        }
        guard let setup else { return [] }
        return await setup.observed.audit.recent(limit)
    }

    /// The active and shadow models and the models on disk.
    public func registry() throws -> ModelRegistry {
        try setup?.registry ?? configuredRegistry()
    }

    /// Whether the parts answer: the checker (asked a one-line question), the model, the log.
    public func health() async -> HealthReport {
        let setup = self.setup
        let pool = setup?.observed.primary.monitorPool ?? checker
        let checkerOK: Bool
        if let pool { checkerOK = (try? await pool.syntax("x = 1")) != nil } else { checkerOK = false }
        let (served, failed) = state.withLock { ($0.served, $0.failed) }
        return HealthReport(status: checkerOK ? "ok" : "degraded", uptimeSeconds: Date().timeIntervalSince(started), modelLoaded: setup != nil,
                            checker: checkerOK ? "ok" : "unavailable", requestsServed: served, requestsFailed: failed,
                            inferenceLog: setup?.observed.log?.path, inferenceLogDropped: setup?.observed.log?.dropped ?? 0,
                            engine: (setup?.observed.primary.instance as? ModelInstance)?.activity)
    }

    /// Every figure `/metrics` exposes, read now.
    public func metrics() async -> MetricsSnapshot {
        let setup = self.setup
        let backend = setup?.observed.primary.instance
        let pool = setup?.observed.primary.monitorPool
        // `processStarts` waits on the pool's queues, so it is read off the cooperative pool.
        let starts = await Task.detached { pool?.processStarts }.value
        let (requests, served, failed) = state.withLock { ($0.metrics, $0.served, $0.failed) }
        return MetricsSnapshot(requests: requests, served: served, failed: failed, queueDepth: backend?.load ?? 0,
                               engine: (backend as? ModelInstance)?.activity,
                               checkerRestarts: max(0, (starts ?? 0) - (pool?.size ?? 0)),
                               auditEvents: await setup?.observed.audit.recent(AuditService.recentLimits.upperBound).count ?? 0)
    }
}

/// `audit/summary`'s answer: the buffer's aggregates (`AuditSummary`'s fields, at the top level)
/// with the models, the generate statuses, the mean confidence and the abstain alert.
@dynamicMemberLookup
public struct AuditReport: Sendable, Codable, Equatable {
    public var summary: AuditSummary
    public var details: Details

    /// What the report adds to the aggregates; every key is written, null when absent.
    public struct Details: Sendable, Codable, Equatable {
        @NullWhenAbsent public var activeModel: String?
        @NullWhenAbsent public var shadowModel: String?
        public var shadowEnabled: Bool
        /// Generate results by status (`verified`, `compiled`, `problems`, `abstained`).
        public var statuses: [String: Int]
        /// Mean confidence score (geometric-mean token probability) and mean token log-probability
        /// of the events that have one; nil when none has.
        @NullWhenAbsent public var confidenceMean: Double?
        @NullWhenAbsent public var avgLogprobMean: Double?
        @NullWhenAbsent public var alert: String?
    }

    /// Aggregates `events` (newest first) under the registry's model names.
    public init(events: [InferenceEvent], registry: ModelRegistry?, alertThreshold: Double) {
        summary = AuditSummary(events)
        var s = Dictionary(uniqueKeysWithValues: ["verified", "compiled", "problems", "abstained"].map { ($0, 0) })
        for e in events { if let o = e.checkOutcome { s[o, default: 0] += 1 } }
        let scores = events.compactMap(\.confidenceScore)
        let logprobs = events.compactMap { $0.confidence?.avgLogprob }
        details = Details(activeModel: registry?.activeVersion, shadowModel: registry?.shadowVersion, shadowEnabled: registry?.shadowEnabled ?? false,
                          statuses: s, confidenceMean: scores.isEmpty ? nil : scores.reduce(0, +) / Double(scores.count),
                          avgLogprobMean: logprobs.isEmpty ? nil : logprobs.reduce(0, +) / Double(logprobs.count),
                          alert: AbstainAlert.check(events, threshold: alertThreshold)?.message)
    }

    public subscript<T>(dynamicMember path: KeyPath<Details, T>) -> T { details[keyPath: path] }

    // The summary's fields sit beside the details', as `audit/summary` has always answered them.
    public func encode(to encoder: any Encoder) throws {
        try summary.encode(to: encoder)
        try details.encode(to: encoder)
    }

    public init(from decoder: any Decoder) throws {
        summary = try AuditSummary(from: decoder)
        details = try Details(from: decoder)
    }
}

/// `health`'s answer; every key is written, null when absent, as the stdio server has always answered.
public struct HealthReport: Sendable, Codable, Equatable {
    /// `ok`, or `degraded` when the checker does not answer.
    public var status: String
    public var uptimeSeconds: Double
    public var modelLoaded: Bool
    public var checker: String
    public var requestsServed: Int
    public var requestsFailed: Int
    @NullWhenAbsent public var inferenceLog: String?
    public var inferenceLogDropped: Int
    @NullWhenAbsent public var engine: EngineActivity?
}
