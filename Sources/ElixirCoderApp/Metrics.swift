import Engine
import Foundation
import Pipeline

/// Monotonic counts of generate requests since the server started: by status and gate
/// decision, and a latency histogram. Prometheus counters must never go down, so these are
/// counted as requests finish rather than read from the bounded audit buffer.
public struct RequestMetrics: Sendable, Equatable {
    /// Upper bounds (seconds) of the latency histogram's buckets; `+Inf` follows.
    public static let latencyBuckets: [Double] = [0.5, 1, 2, 5, 10, 20, 30, 60, 120]

    /// Requests by `status` (a result status or `error`) and `decision` (a gate decision or `none`).
    public var requests: [Labels: Int] = [:]
    /// Requests whose latency was at most each bucket's bound (cumulative, as Prometheus has it).
    public var latencyCounts = Array(repeating: 0, count: RequestMetrics.latencyBuckets.count)
    public var latencySum = 0.0
    public var latencyCount = 0

    /// A request's labels.
    public struct Labels: Hashable, Sendable, Comparable {
        public var status: String
        public var decision: String
        public static func < (a: Labels, b: Labels) -> Bool { (a.status, a.decision) < (b.status, b.decision) }
    }

    public init() {}

    /// Counts one finished request; nil: it failed.
    public mutating func record(_ result: GenerateResult?, seconds: Double) {
        let labels = Labels(status: result?.status.rawValue ?? "error", decision: result?.gating?.decision.rawValue ?? "none")
        requests[labels, default: 0] += 1
        for (i, bound) in Self.latencyBuckets.enumerated() where seconds <= bound { latencyCounts[i] += 1 }
        latencySum += seconds
        latencyCount += 1
    }
}

/// Every figure `/metrics` exposes at one moment.
public struct MetricsSnapshot: Sendable {
    public var requests: RequestMetrics
    public var served: Int
    public var failed: Int
    /// Requests waiting for or in the model's batch.
    public var queueDepth: Int
    public var engine: EngineActivity?
    /// Checker processes started again after one died or timed out.
    public var checkerRestarts: Int
    /// Events now in the audit ring buffer.
    public var auditEvents: Int

    /// The Prometheus text exposition format (version 0.0.4): `# HELP`, `# TYPE`, then samples.
    public var prometheusText: String {
        var out = ""
        func family(_ name: String, _ type: String, _ help: String, _ samples: [(labels: String, value: Double)]) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
            for s in samples { out += "\(name)\(s.labels) \(Self.format(s.value))\n" }
        }
        family("elixir_coder_requests_total", "counter", "Generate requests finished, by result status (error: failed) and gate decision (none: gate off).",
               requests.requests.sorted { $0.key < $1.key }.map { (Self.labels(["status": $0.key.status, "decision": $0.key.decision]), Double($0.value)) })
        let name = "elixir_coder_request_duration_seconds"
        out += "# HELP \(name) Seconds from a generate request's start to its answer.\n# TYPE \(name) histogram\n"
        for (bound, count) in zip(RequestMetrics.latencyBuckets, requests.latencyCounts) {
            out += "\(name)_bucket\(Self.labels(["le": Self.format(bound)])) \(count)\n"
        }
        out += "\(name)_bucket{le=\"+Inf\"} \(requests.latencyCount)\n\(name)_sum \(Self.format(requests.latencySum))\n\(name)_count \(requests.latencyCount)\n"
        family("elixir_coder_requests_served_total", "counter", "Requests answered.", [("", Double(served))])
        family("elixir_coder_requests_failed_total", "counter", "Requests that failed.", [("", Double(failed))])
        family("elixir_coder_engine_tokens_total", "counter", "Tokens the embedded engine sampled.", [("", Double(engine?.tokens ?? 0))])
        let perSecond = (engine?.stepSeconds ?? 0) > 0 ? Double(engine!.tokens) / engine!.stepSeconds : 0
        family("elixir_coder_engine_tokens_per_second", "gauge", "Tokens sampled per second of decoding steps, since the start.", [("", perSecond)])
        family("elixir_coder_queue_depth", "gauge", "Requests waiting for or in the model's batch.", [("", Double(queueDepth))])
        family("elixir_coder_checker_restarts_total", "counter", "Elixir checker processes restarted after dying or timing out.", [("", Double(checkerRestarts))])
        family("elixir_coder_audit_events", "gauge", "Events in the audit ring buffer.", [("", Double(auditEvents))])
        return out
    }

    /// `{a="x",b="y"}`, keys sorted, values escaped as the format asks.
    static func labels(_ pairs: [String: String]) -> String {
        let body = pairs.sorted { $0.key < $1.key }.map { key, value in
            let escaped = value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"").replacingOccurrences(of: "\n", with: "\\n")
            return "\(key)=\"\(escaped)\""
        }
        return "{" + body.joined(separator: ",") + "}"
    }

    /// Integers without a fraction; other values as Go's `strconv.FormatFloat` would take them.
    static func format(_ v: Double) -> String {
        if v.isNaN { return "NaN" }
        if v.isInfinite { return v > 0 ? "+Inf" : "-Inf" }
        return v == v.rounded() && abs(v) < 1e15 ? String(Int64(v)) : String(v)
    }
}
