import Engine
import Foundation
import SQLiteStore
import XCTest
@testable import Telemetry

final class ConfidenceTests: XCTestCase {
    func token(_ id: Int, _ lp: Float, entropy: Float = 1, top: [Float] = []) -> GeneratedToken {
        GeneratedToken(id: id, logprob: lp, entropy: entropy, top: top.enumerated().map { TokenLogprob(id: $0.offset, logprob: $0.element) })
    }

    func testMetricsFromFullDistribution() {
        let tokens = [token(1, log(0.5), entropy: 1.0, top: [log(0.5)]), token(2, log(0.1), entropy: 3.0, top: [log(0.6)])]
        let m = ConfidenceMetrics(tokens: tokens, text: { "t\($0)" })
        XCTAssertEqual(m.avgLogprob, (log(0.5) + log(0.1)) / 2, accuracy: 1e-5)
        XCTAssertEqual(m.entropy, 2.0, accuracy: 1e-6)
        XCTAssertEqual(m.top1Probability, 0.55, accuracy: 1e-5)
        XCTAssertEqual(m.lowest.map(\.position), [1, 0])
        XCTAssertEqual(m.lowest.first?.text, "t2")
        XCTAssertEqual(m.lowest.first!.probability, 0.1, accuracy: 1e-6)
    }

    func testTopKEntropyIsThatOfTheRenormalizedAlternatives() {
        // Two equally likely alternatives: ln 2 whatever their absolute mass.
        let m = ConfidenceMetrics(tokens: [token(1, log(0.2), top: [log(0.2), log(0.2)])], source: .topK)
        XCTAssertEqual(m.entropy, log(2), accuracy: 1e-6)
        XCTAssertEqual(m.entropySource, .topK)
    }

    func testGatingFollowsTheDesignThresholdsInOrder() {
        let g = GatingThresholds()
        func metrics(_ avg: Double, _ h: Double, _ top1: Double) -> ConfidenceMetrics {
            ConfidenceMetrics(avgLogprob: avg, entropy: h, entropySource: .fullDistribution, top1Probability: top1, tokenCount: 10, lowest: [])
        }
        XCTAssertEqual(g.decide(metrics(-0.3, 1.0, 0.8)), .proceed)
        XCTAssertEqual(g.decide(metrics(-1.6, 3.0, 0.1)), .reflect)
        XCTAssertEqual(g.decide(metrics(-1.0, 2.6, 0.1)), .retrieve)
        XCTAssertEqual(g.decide(metrics(-1.0, 2.0, 0.19)), .abstain)
        var strict = GatingThresholds()
        strict.reflectBelowAvgLogprob = -0.2
        XCTAssertEqual(strict.decide(metrics(-0.3, 1.0, 0.8)), .reflect)
        XCTAssertEqual(g.decide(ConfidenceMetrics(tokens: [])), .proceed, "no tokens, nothing to gate")
    }
}

final class AuditTests: XCTestCase {
    func event(_ latency: Double, avg: Double? = nil, decision: GatingDecision? = nil, status: InferenceEvent.Status = .success) -> InferenceEvent {
        InferenceEvent(kind: "generate", instance: "default", modelVersion: "m", promptSHA256: "x", latencyMs: latency,
                       confidence: avg.map { ConfidenceMetrics(avgLogprob: $0, entropy: 1, entropySource: .fullDistribution, top1Probability: 0.5, tokenCount: 3, lowest: []) },
                       decision: decision, status: status)
    }

    func testSummaryArithmetic() {
        var events = (1...20).map { event(Double($0), avg: log(Double($0) / 21), decision: $0 % 5 == 0 ? .abstain : .proceed) }
        events[0].status = .error
        var shadowed = events[1]
        shadowed.shadow = ShadowOutcome(instance: "s", status: .success, latencyMs: 10, logprobDiff: -0.5, sameCluster: true, shadowClean: true, primaryClean: true)
        events[1] = shadowed
        events[2].shadow = ShadowOutcome(instance: "s", status: .success, latencyMs: 30, logprobDiff: 0.25, sameCluster: false)
        events[3].shadow = ShadowOutcome(instance: "s", status: .timeout)
        let s = AuditSummary(events)
        XCTAssertEqual(s.count, 20)
        XCTAssertEqual(s.avgLatencyMs, 10.5)
        XCTAssertEqual(s.p95LatencyMs, 19)
        XCTAssertEqual(s.errorCount, 1)
        XCTAssertEqual(s.successRate, 0.95)
        XCTAssertEqual(s.decisions["abstain"], 4)
        XCTAssertEqual(s.abstainRate, 0.2)
        // Confidences 1/21 ... 20/21.
        XCTAssertEqual(s.confidenceHistogram, ["0.0-0.2": 4, "0.2-0.4": 4, "0.4-0.6": 4, "0.6-0.8": 4, "0.8-1.0": 4])
        let sh = try! XCTUnwrap(s.shadow)
        XCTAssertEqual(sh.compared, 2)
        XCTAssertEqual(sh.failures, 1)
        XCTAssertEqual(sh.agreement, 0.5)
        XCTAssertEqual(sh.bothClean, 1)
        XCTAssertEqual(sh.avgLogprobDiff, -0.125)
        XCTAssertEqual(sh.minLogprobDiff, -0.5)
        XCTAssertEqual(sh.maxLogprobDiff, 0.25)
        XCTAssertEqual(sh.avgShadowLatencyMs, 20)
    }

    func testRingBufferKeepsTheNewestAndAttachesShadows() async {
        let buffer = AuditBuffer(capacity: 3)
        var ids: [String] = []
        for i in 1...5 {
            let e = event(Double(i))
            ids.append(e.requestID)
            await buffer.append(e)
        }
        let recent = await buffer.recent(10)
        XCTAssertEqual(recent.map(\.latencyMs), [5, 4, 3])
        await buffer.attachShadow(requestID: ids[3], ShadowOutcome(instance: "s", status: .error, error: "boom"))
        let summary = await buffer.summary()
        XCTAssertEqual(summary.count, 3)
        XCTAssertEqual(summary.shadow?.failures, 1)
    }

    func testAbstainAlert() {
        let calm = (0..<20).map { event(1, decision: $0 < 2 ? .abstain : .proceed) }
        XCTAssertNil(AbstainAlert.check(calm, threshold: 0.2))
        let bad = (0..<20).map { event(1, decision: $0 < 8 ? .abstain : .proceed) }
        let alert = try! XCTUnwrap(AbstainAlert.check(bad, threshold: 0.2))
        XCTAssertEqual(alert.rate, 0.4)
        XCTAssertTrue(alert.message.contains("40%"))
        XCTAssertNil(AbstainAlert.check(Array(bad.prefix(5)), threshold: 0.2), "too few events to judge")
    }

    func testTheLiveAlertFiresOnceWhenTheRateCrossesTheThreshold() async {
        let buffer = AuditBuffer(capacity: 100)
        var fired = 0
        for i in 0..<40 {
            await buffer.append(event(1, decision: i >= 20 ? .abstain : .proceed))
            if await buffer.newAlert(threshold: 0.3) != nil { fired += 1 }
        }
        XCTAssertEqual(fired, 1)
    }
}

final class InferenceLogTests: XCTestCase {
    var dir: URL!

    override func setUp() {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("ec-log-\(UUID().uuidString)")
    }

    override func tearDown() { try? FileManager.default.removeItem(at: dir) }

    func sample(_ i: Int, at date: Date = Date()) -> InferenceEvent {
        var e = InferenceEvent(kind: "generate", instance: "default", modelVersion: "smol@abc", promptSHA256: "h\(i)", promptTokens: 10,
                               completionTokens: 3, latencyMs: Double(i),
                               confidence: ConfidenceMetrics(avgLogprob: -0.5, entropy: 1.2, entropySource: .fullDistribution, top1Probability: 0.7,
                                                             tokenCount: 3, lowest: [.init(position: 2, text: "end", probability: 0.3)]),
                               decision: i % 2 == 0 ? .proceed : .abstain, checkOutcome: "clean", timestamp: date)
        e.tokens = [.init(token: "a", logprob: -0.1, entropy: 0.5), .init(token: "b", logprob: -1, entropy: 2)]
        return e
    }

    func testEventsRoundTripThroughSQLite() throws {
        let path = dir.appendingPathComponent("log.sqlite").path
        var options = InferenceLog.Options()
        options.tokenTable = true
        let log = try InferenceLog(path: path, options: options)
        let events = (0..<5).map { sample($0) }
        for e in events { XCTAssertTrue(log.record(e)) }
        let outcome = ShadowOutcome(instance: "shadow", status: .success, latencyMs: 12, avgLogprob: -0.7, logprobDiff: -0.2, sameCluster: true, shadowClean: false, primaryClean: true)
        log.recordShadow(requestID: events[4].requestID, outcome)
        log.close()
        XCTAssertNil(log.lastError)

        let db = try SQLiteConnection(path: path)
        XCTAssertEqual(try db.query("PRAGMA journal_mode").first?.first?.text, "wal")
        XCTAssertEqual(Int(try db.query("PRAGMA user_version").first?.first?.int ?? 0), InferenceSchema.version)
        let back = try InferenceSchema.recent(10, in: db)
        XCTAssertEqual(back.count, 5)
        XCTAssertEqual(back.first?.requestID, events[4].requestID, "newest first")
        XCTAssertEqual(back.first?.shadow, outcome)
        XCTAssertEqual(back.first?.confidence?.lowest, events[4].confidence?.lowest)
        XCTAssertEqual(back.last?.decision, .proceed)
        XCTAssertNil(back.first?.promptPreview, "no preview unless asked for")
        XCTAssertEqual(try db.query("SELECT count(*) FROM token_stats").first?.first?.int, 10)
        let indexes = try db.query("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events'").compactMap { $0.first?.text }
        XCTAssertTrue(indexes.contains("events_ts") && indexes.contains("events_model_ts"))
        let hours = try InferenceSchema.hourly(in: db)
        XCTAssertEqual(hours.map(\.events).reduce(0, +), 5)
        XCTAssertEqual(hours.map(\.abstained).reduce(0, +), 2)
    }

    func testRetentionDropsOldEventsAndTheirTokens() throws {
        let path = dir.appendingPathComponent("log.sqlite").path
        var options = InferenceLog.Options()
        options.tokenTable = true
        options.retentionDays = nil
        let log = try InferenceLog(path: path, options: options)
        log.record(sample(1, at: Date(timeIntervalSinceNow: -40 * 86400)))
        log.record(sample(2))
        log.close()
        // Reopening with the default 30-day retention prunes the old one.
        let again = try InferenceLog(path: path)
        again.close()
        let db = try SQLiteConnection(path: path)
        XCTAssertEqual(try InferenceSchema.count(in: db), 1)
        XCTAssertEqual(try db.query("SELECT count(*) FROM token_stats").first?.first?.int, 2, "the old event's tokens went with it")
    }

    func testAFullQueueDropsAndCountsInsteadOfBlocking() throws {
        var options = InferenceLog.Options()
        options.queueCapacity = 4
        let log = try InferenceLog(path: dir.appendingPathComponent("log.sqlite").path, options: options)
        var accepted = 0
        let start = Date()
        for i in 0..<2000 where log.record(sample(i)) { accepted += 1 }
        XCTAssertLessThan(Date().timeIntervalSince(start), 5)
        log.close()
        XCTAssertEqual(accepted + log.dropped, 2000)
        XCTAssertGreaterThan(log.dropped, 0)
        let db = try SQLiteConnection(path: log.path)
        XCTAssertEqual(try InferenceSchema.count(in: db), accepted)
    }

    func testANewerSchemaIsRefusedWithAClearMessage() throws {
        let path = dir.appendingPathComponent("log.sqlite").path
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try SQLiteConnection(path: path).execute("PRAGMA user_version = 99")
        XCTAssertThrowsError(try InferenceLog(path: path)) { XCTAssertTrue("\($0)".contains("newer than this ElixirCoder knows")) }
    }
}

final class RunLogTests: XCTestCase {
    func testGzipRoundTripAndTruncation() throws {
        let text = Data(String(repeating: "defmodule A do\n  def f, do: :ok\nend\n", count: 200).utf8)
        let z = try Gzip.compress(text)
        XCTAssertEqual(Array(z.prefix(2)), [0x1f, 0x8b], "gzip magic")
        XCTAssertLessThan(z.count, text.count / 10)
        XCTAssertEqual(try Gzip.decompress(z), text)
        XCTAssertThrowsError(try Gzip.decompress(z.prefix(z.count / 2)))
    }

    struct Body: Encodable, Sendable { var candidates: [String] }

    func testWritesGzipLogAndSummaryAndPrunesOldest() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ec-runs-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let logger = RunLogger(settings: RunLogSettings(level: .detailed, directory: dir, maxFiles: 3))
        var timings = PhaseTimings()
        timings.add("sample", 1.5)
        timings.add("sample", 0.5)
        var urls: [URL] = []
        for i in 0..<5 {
            let meta = RunMetadata(command: "generate", version: "0.1.0", configSHA256: "c", runID: "run\(i)",
                                   startedAt: Date(timeIntervalSince1970: 1_700_000_000 + Double(i)))
            let record = RunRecord(metadata: meta, level: .detailed, timings: timings, totalSeconds: 2, summary: ["status": "clean"], body: Body(candidates: ["a"]))
            urls.append(try XCTUnwrap(try logger.write(record)))
            Thread.sleep(forTimeInterval: 0.01)
        }
        let folder = dir.appendingPathComponent("2023-11-14")
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted()
        XCTAssertEqual(files.filter { $0.hasSuffix(".json.gz") }.count, 3)
        XCTAssertEqual(files.filter { $0.hasSuffix("_summary.json") }.count, 3)
        XCTAssertFalse(FileManager.default.fileExists(atPath: urls[0].path), "the oldest was removed")
        let json = try JSONSerialization.jsonObject(with: try Gzip.decompress(Data(contentsOf: urls[4]))) as! [String: Any]
        XCTAssertEqual((json["timings"] as? [String: Any]).flatMap { $0["seconds"] as? [String: Double] }?["sample"], 2.0)
        XCTAssertEqual((json["body"] as? [String: Any])?["candidates"] as? [String], ["a"])
        let env = (json["metadata"] as? [String: Any])?["environment"] as? [String: Any]
        XCTAssertEqual(env?["cores"] as? Int, ProcessInfo.processInfo.activeProcessorCount)
        XCTAssertTrue((env?["os"] as? String ?? "").hasPrefix("Linux"))
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        let summary = try decoder.decode(RunSummaryFile.self, from: Data(contentsOf: URL(fileURLWithPath: String(urls[4].path.dropLast(8)) + "_summary.json")))
        XCTAssertEqual(summary.log, urls[4].lastPathComponent)
        XCTAssertNil(try RunLogger(settings: RunLogSettings(level: .off, directory: dir)).write(
            RunRecord(metadata: RunMetadata(command: "x", version: "0", configSHA256: "c"), level: .off, timings: timings, totalSeconds: 0, summary: [:], body: Body(candidates: []))))
    }
}
