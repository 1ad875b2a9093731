@testable import ElixirCoderApp
import Engine
import Foundation
import Telemetry
import Testing

/// `health` and `audit/summary` write every key, null when absent, and read back what they wrote.
@Suite("Report encoding")
struct ReportEncodingTests {
    func object(_ value: some Encodable) throws -> [String: Any] {
        try #require(JSONSerialization.jsonObject(with: JSONEncoder().encode(value)) as? [String: Any])
    }

    @Test("absent values are null, present ones their value, and both read back equal")
    func health() throws {
        var report = HealthReport(status: "ok", uptimeSeconds: 1.5, modelLoaded: false, checker: "ok", requestsServed: 2, requestsFailed: 0,
                                  inferenceLog: nil, inferenceLogDropped: 0, engine: nil)
        var o = try object(report)
        #expect(Set(o.keys) == ["status", "uptimeSeconds", "modelLoaded", "checker", "requestsServed", "requestsFailed", "inferenceLog", "inferenceLogDropped", "engine"])
        #expect(o["inferenceLog"] is NSNull && o["engine"] is NSNull)
        #expect(try JSONDecoder().decode(HealthReport.self, from: JSONEncoder().encode(report)) == report)
        report.inferenceLog = "/tmp/log.sqlite"
        report.engine = EngineActivity()
        o = try object(report)
        #expect(o["inferenceLog"] as? String == "/tmp/log.sqlite" && o["engine"] is [String: Any])
        #expect(try JSONDecoder().decode(HealthReport.self, from: JSONEncoder().encode(report)) == report)
    }

    @Test("the summary's fields sit beside the report's, the absent ones null")
    func audit() throws {
        let report = AuditReport(events: [], registry: nil, alertThreshold: 0.3)
        let o = try object(report)
        for key in ["activeModel", "shadowModel", "confidenceMean", "avgLogprobMean", "alert"] { #expect(o[key] is NSNull, "\(key)") }
        #expect(o["shadowEnabled"] as? Bool == false && o["statuses"] as? [String: Int] == ["verified": 0, "compiled": 0, "problems": 0, "abstained": 0])
        #expect(o["count"] != nil && o["shadow"] == nil, "the summary's own keys, its absent shadow left out as before: \(o.keys.sorted())")
        #expect(try JSONDecoder().decode(AuditReport.self, from: JSONEncoder().encode(report)) == report)
    }
}
