import Foundation

/// Aggregates over a window of inference events, for `stats` and `audit/summary`.
public struct AuditSummary: Sendable, Codable, Equatable {
    public var count: Int
    public var avgLatencyMs: Double
    public var p95LatencyMs: Double
    /// Confidence (geometric-mean token probability) in five bins of width 0.2.
    public var confidenceHistogram: [String: Int]
    public var successRate: Double
    public var errorCount: Int
    public var decisions: [String: Int]
    /// Share of events the gate did not let through (`abstain`).
    public var abstainRate: Double
    public var shadow: ShadowSummary?

    /// Shadow comparison over the events that have one.
    public struct ShadowSummary: Sendable, Codable, Equatable {
        public var compared: Int
        public var failures: Int
        /// Share of successful comparisons whose programs landed in the same AST cluster.
        public var agreement: Double
        public var bothClean: Int
        public var avgLogprobDiff: Double
        public var minLogprobDiff: Double
        public var maxLogprobDiff: Double
        public var avgShadowLatencyMs: Double
    }

    public static let binLabels = ["0.0-0.2", "0.2-0.4", "0.4-0.6", "0.6-0.8", "0.8-1.0"]

    public init(_ events: [InferenceEvent]) {
        count = events.count
        let latencies = events.map(\.latencyMs).sorted()
        avgLatencyMs = latencies.isEmpty ? 0 : latencies.reduce(0, +) / Double(latencies.count)
        p95LatencyMs = Self.percentile(latencies, 0.95)
        var bins = Dictionary(uniqueKeysWithValues: Self.binLabels.map { ($0, 0) })
        for e in events {
            guard let c = e.confidenceScore else { continue }
            bins[Self.binLabels[min(4, max(0, Int(c * 5)))], default: 0] += 1
        }
        confidenceHistogram = bins
        errorCount = events.filter { $0.status == .error }.count
        successRate = events.isEmpty ? 1 : Double(events.count - errorCount) / Double(events.count)
        var d = Dictionary(uniqueKeysWithValues: GatingDecision.allCases.map { ($0.rawValue, 0) })
        for e in events { if let x = e.decision { d[x.rawValue, default: 0] += 1 } }
        decisions = d
        abstainRate = events.isEmpty ? 0 : Double(d["abstain"] ?? 0) / Double(events.count)
        let shadows = events.compactMap(\.shadow)
        if shadows.isEmpty {
            shadow = nil
        } else {
            let ok = shadows.filter { $0.status == .success }
            let diffs = ok.compactMap(\.logprobDiff)
            let same = ok.compactMap(\.sameCluster)
            let lat = ok.compactMap(\.latencyMs)
            shadow = ShadowSummary(compared: ok.count, failures: shadows.count - ok.count,
                                   agreement: same.isEmpty ? 0 : Double(same.filter { $0 }.count) / Double(same.count),
                                   bothClean: ok.filter { $0.shadowClean == true && $0.primaryClean == true }.count,
                                   avgLogprobDiff: diffs.isEmpty ? 0 : diffs.reduce(0, +) / Double(diffs.count),
                                   minLogprobDiff: diffs.min() ?? 0, maxLogprobDiff: diffs.max() ?? 0,
                                   avgShadowLatencyMs: lat.isEmpty ? 0 : lat.reduce(0, +) / Double(lat.count))
        }
    }

    /// Nearest-rank percentile of sorted values.
    static func percentile(_ sorted: [Double], _ p: Double) -> Double {
        guard !sorted.isEmpty else { return 0 }
        let rank = Int((p * Double(sorted.count)).rounded(.up))
        return sorted[min(sorted.count, max(1, rank)) - 1]
    }
}

/// Raised when too many recent requests were abstained.
public struct AbstainAlert: Sendable, Codable, Equatable {
    public var rate: Double
    public var threshold: Double
    public var window: Int
    public var message: String { String(format: "abstain rate %.0f%% over the last %d events exceeds %.0f%%", rate * 100, window, threshold * 100) }

    /// An alert when `events` (a window of recent ones) abstained more often than `threshold`.
    public static func check(_ events: [InferenceEvent], threshold: Double, minimumEvents: Int = 10) -> AbstainAlert? {
        guard events.count >= minimumEvents else { return nil }
        let rate = Double(events.filter { $0.decision == .abstain }.count) / Double(events.count)
        return rate > threshold ? AbstainAlert(rate: rate, threshold: threshold, window: events.count) : nil
    }
}

/// The live audit ring buffer: the last `capacity` events of this process.
public actor AuditBuffer {
    public let capacity: Int
    private var ring: [InferenceEvent] = []
    private var next = 0

    public init(capacity: Int = 1000) {
        self.capacity = max(1, capacity)
    }

    public func append(_ e: InferenceEvent) {
        if ring.count < capacity {
            ring.append(e)
        } else {
            ring[next] = e
        }
        next = (next + 1) % capacity
    }

    /// Attaches a shadow outcome to the event of `requestID`, if it is still in the buffer.
    public func attachShadow(requestID: String, _ outcome: ShadowOutcome) {
        if let i = ring.firstIndex(where: { $0.requestID == requestID }) { ring[i].shadow = outcome }
    }

    /// Newest first.
    public func recent(_ limit: Int) -> [InferenceEvent] {
        let ordered = ring.count < capacity ? ring : Array(ring[next...] + ring[..<next])
        return Array(ordered.reversed().prefix(max(0, limit)))
    }

    public func summary() -> AuditSummary { AuditSummary(recent(capacity)) }

    private var alerting = false

    /// The abstain alert over the newest `window` events, reported once when it starts firing.
    public func newAlert(threshold: Double, window: Int = 100) -> AbstainAlert? {
        let alert = AbstainAlert.check(recent(window), threshold: threshold)
        defer { alerting = alert != nil }
        return alerting ? nil : alert
    }
}
