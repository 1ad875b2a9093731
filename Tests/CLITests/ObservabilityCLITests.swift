import Foundation
import Testing
import Telemetry

/// The inference log and run logs as a user meets them: through `generate`, `stats` and a crash.
@Suite("Observability from the CLI", .serialized)
struct ObservabilityCLITests {
    @Test("generate records an event that stats reads back; the run log is gzip JSON; the task text is not stored")
    func generateThenStats() throws {
        let home = try CLI.temporaryHome()
        defer { try? FileManager.default.removeItem(at: home) }
        let task = "Write a function that counts the vowels in a string."
        let gen = try CLI.run(["generate", task, "--candidates", "2", "--max-attempts", "1", "--max-tokens", "48", "--log-level", "detailed", "--json"], home: home)
        #expect([0, 3, 4].contains(gen.status), "\(gen.stderr)")
        let result = try JSONSerialization.jsonObject(with: Data(gen.stdout.utf8)) as! [String: Any]
        let requestID = try #require(result["requestID"] as? String)
        #expect((result["gating"] as? [String: Any])?["decision"] != nil)

        let stats = try CLI.run(["stats", "summary", "--json"], home: home)
        #expect(stats.status == 0, "\(stats.stderr)")
        let summary = (try JSONSerialization.jsonObject(with: Data(stats.stdout.utf8)) as! [String: Any])["summary"] as! [String: Any]
        #expect(summary["count"] as? Int == 1)
        let recent = try CLI.run(["stats", "recent", "5", "--json"], home: home)
        let events = try JSONSerialization.jsonObject(with: Data(recent.stdout.utf8)) as! [[String: Any]]
        #expect(events.first?["requestID"] as? String == requestID)
        #expect(events.first?["promptPreview"] == nil)
        let db = home.appendingPathComponent("state/inference.sqlite")
        let bytes = try Data(contentsOf: db) + ((try? Data(contentsOf: URL(fileURLWithPath: db.path + "-wal"))) ?? Data())
        #expect(bytes.range(of: Data("counts the vowels".utf8)) == nil)

        let runs = home.appendingPathComponent("state/runs")
        let day = try #require(try FileManager.default.contentsOfDirectory(atPath: runs.path).first)
        let files = try FileManager.default.contentsOfDirectory(atPath: runs.appendingPathComponent(day).path)
        let gz = try #require(files.first { $0.hasSuffix(".json.gz") })
        #expect(files.contains { $0.hasSuffix("_summary.json") })
        let unzip = try CLI.gunzip(runs.appendingPathComponent(day).appendingPathComponent(gz))
        let log = try JSONSerialization.jsonObject(with: unzip) as! [String: Any]
        let tasks = (log["body"] as? [String: Any])?["tasks"] as? [[String: Any]]
        #expect(tasks?.first?["requestID"] as? String == requestID)
        #expect(tasks?.first?["candidates"] != nil, "detailed keeps candidates")
        #expect(unzip.range(of: Data("counts the vowels".utf8)) == nil)

        let health = try CLI.run(["stats", "health"], home: home)
        #expect(health.stdout.contains("integrity: ok"))
    }

    /// `stats health --json` for a database file (integrity check and event count).
    static func health(_ db: String, _ home: URL) throws -> [String: Any]? {
        let r = try CLI.run(["stats", "health", "--database", db, "--json"], home: home)
        return try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
    }

    @Test("a writer killed mid-write leaves a database that opens cleanly with every committed event")
    func killedWriter() throws {
        let home = try CLI.temporaryHome()
        defer { try? FileManager.default.removeItem(at: home) }
        let db = home.appendingPathComponent("crash.sqlite").path
        let p = Process()
        p.executableURL = URL(fileURLWithPath: CLI.benchBinary)
        p.arguments = ["log", "--events", "50000000", "--database", db, "--no-generate"]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        var before = 0
        for _ in 0..<200 {
            Thread.sleep(forTimeInterval: 0.05)
            before = try Self.health(db, home)?["events"] as? Int ?? 0
            if before > 2000 { break }
        }
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        #expect(p.terminationReason == .uncaughtSignal)
        #expect(before > 2000, "the writer was committing before the kill")
        let after = try #require(try Self.health(db, home))
        #expect(after["integrity"] as? String == "ok")
        #expect(after["events"] as? Int ?? 0 >= before, "events committed before the kill survive")
        // And the log takes new writes.
        let more = try CLI.run(["bench", "log", "--events", "10", "--database", db, "--no-generate"], home: home)
        #expect(more.status == 0, "\(more.stderr)")
        #expect(try Self.health(db, home)?["events"] as? Int ?? 0 >= before + 10)
    }
}

extension CLI {
    static func gunzip(_ url: URL) throws -> Data { try Gzip.decompress(Data(contentsOf: url)) }
}
