import ArgumentParser
import CommandLineOptions
import ElixirCoderApp
import ElixirCoderCore
import Foundation
import SQLiteStore
import Telemetry

/// `elixir-coder stats`: what the inference log says about past requests.
struct StatsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats",
        abstract: "Summaries of the SQLite inference log: summary, recent N, hourly, registry or health.",
        discussion: "Reads STATE/inference.sqlite (STATE is $ELIXIR_CODER_HOME/state or ~/.local/state/elixir-coder). A running server answers the same questions live through audit/summary, audit/recent, models/registry and health."
    )

    enum View: String, ExpressibleByArgument, CaseIterable { case summary, recent, hourly, registry, health }

    @Argument(help: "summary (default), recent, hourly, registry or health.") var view: View = .summary
    @Argument(help: "How many events for `recent` (default 20) or hours for `hourly` (default 24).") var count: Int?
    @Option(help: "Events the summary covers, newest first.") var window = 1000
    @Option(help: "Only events of the last N hours.") var hours: Double?
    @Option(help: "Inference log file (default: STATE/inference.sqlite).") var database: String?
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let paths = Paths()
        let config = try Configuration.load(paths: paths)
        if view == .registry {
            let registry = try ModelRegistry.resolve(active: config.model, shadow: config.shadowModel).0
            if json { return try printJSON(registry) }
            print("active: \(registry.activeVersion)  (\(registry.active))")
            print("shadow: \(registry.shadowVersion.map { "\($0)  (\(registry.shadow!))" } ?? "none")\(registry.shadowEnabled ? "" : registry.shadow == nil ? "" : " [disabled: same as active]")")
            print("available:\n" + registry.available.map { "  \($0)" }.joined(separator: "\n"))
            return
        }
        let path = database ?? paths.inferenceLog.path
        guard FileManager.default.fileExists(atPath: path) else {
            throw ValidationError("no inference log at \(path) yet: it is created by the first generate, batch or serve run")
        }
        let db = try SQLiteConnection(path: path)
        try InferenceSchema.migrate(db)
        let since = hours.map { Date(timeIntervalSinceNow: -$0 * 3600) }
        switch view {
        case .summary:
            let events = try InferenceSchema.recent(window, since: since, in: db)
            let summary = AuditSummary(events)
            let alert = AbstainAlert.check(events, threshold: config.abstainAlertRate ?? 0.3)
            if let alert { Stderr.print("warning: \(alert.message)") }
            if json { return try printJSON(SummaryOutput(summary: summary, alert: alert?.message, database: path)) }
            printSummary(summary, alert: alert)
        case .recent:
            let events = try InferenceSchema.recent(count ?? 20, since: since, in: db)
            if json { return try printJSON(events) }
            for e in events {
                let c = e.confidence.map { String(format: "logprob %6.2f  H %4.2f  top1 %.2f", $0.avgLogprob, $0.entropy, $0.top1Probability) } ?? "-"
                print(String(format: "%@  %@  %-8@ %-15@ %7.0f ms  %@  %@", Self.time(e.timestamp), String(e.requestID.prefix(8)), e.status.rawValue,
                             e.checkOutcome ?? "-", e.latencyMs, e.decision?.rawValue ?? "-", c)
                      + (e.shadow.map { "  shadow \($0.status.rawValue)" } ?? ""))
            }
        case .hourly:
            let rows = try InferenceSchema.hourly(limit: count ?? 24, in: db)
            if json { return try printJSON(rows) }
            for r in rows {
                print(String(format: "%@  %-40@ %5d events  %7.0f ms  logprob %@  abstained %d  errors %d", r.hour, r.modelVersion, r.events, r.avgLatencyMs,
                             r.avgLogprob.map { String(format: "%.2f", $0) } ?? "-", r.abstained, r.errors))
            }
        case .health:
            let total = try InferenceSchema.count(in: db)
            let integrity = try db.query("PRAGMA integrity_check").first?.first?.text ?? "unknown"
            let last = try InferenceSchema.recent(1, in: db).first
            let h = Health(database: path, schemaVersion: Int(try db.query("PRAGMA user_version").first?.first?.int ?? 0), events: total,
                           integrity: integrity, lastEvent: last?.timestamp)
            if json { return try printJSON(h) }
            print("database: \(h.database)\nschema: v\(h.schemaVersion)\nevents: \(h.events)\nintegrity: \(h.integrity)\nlast event: \(h.lastEvent.map(Self.time) ?? "none")")
            if integrity != "ok" { throw ExitCode(1) }
        case .registry:
            break
        }
    }

    struct SummaryOutput: Encodable {
        let summary: AuditSummary
        let alert: String?
        let database: String
    }

    struct Health: Encodable {
        let database: String
        let schemaVersion: Int
        let events: Int
        let integrity: String
        let lastEvent: Date?
    }

    func printSummary(_ s: AuditSummary, alert: AbstainAlert?) {
        print("events: \(s.count)   success rate: \(String(format: "%.1f%%", s.successRate * 100))   errors: \(s.errorCount)")
        print(String(format: "latency: avg %.0f ms, p95 %.0f ms", s.avgLatencyMs, s.p95LatencyMs))
        print("gating: " + GatingDecision.allCases.map { "\($0.rawValue) \(s.decisions[$0.rawValue] ?? 0)" }.joined(separator: ", "))
        print("confidence (geometric-mean token probability):")
        let peak = max(1, s.confidenceHistogram.values.max() ?? 1)
        for label in AuditSummary.binLabels {
            let n = s.confidenceHistogram[label] ?? 0
            print("  \(label)  \(String(repeating: "#", count: n * 30 / peak))  \(n)")
        }
        if let sh = s.shadow {
            print(String(format: "shadow: %d compared, %d failed, agreement %.0f%%, both clean %d, logprob diff avg %+.3f (min %+.3f, max %+.3f), latency %.0f ms",
                         sh.compared, sh.failures, sh.agreement * 100, sh.bothClean, sh.avgLogprobDiff, sh.minLogprobDiff, sh.maxLogprobDiff, sh.avgShadowLatencyMs))
        } else {
            print("shadow: none recorded")
        }
        if let alert { print("ALERT: \(alert.message)") }
    }

    static func time(_ d: Date) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyy-MM-dd HH:mm:ss'Z'"
        return f.string(from: d)
    }
}
