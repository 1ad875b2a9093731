import Foundation
import SQLiteStore

/// The SQLite inference log: schema, migrations, and a background writer.
///
/// `record` never blocks generation: events go into a bounded queue that one writer
/// thread drains in transactions. When the queue is full the event is dropped and
/// counted (`dropped`), because losing a log line beats stalling a request. Call `close()`
/// to write what is queued and end the writer.
public final class InferenceLog: @unchecked Sendable {
    /// Settings of the log.
    public struct Options: Sendable {
        public var queueCapacity = 1024
        /// Keep per-token rows (token, log-probability, entropy).
        public var tokenTable = false
        /// Delete events older than this many days when the log opens; nil keeps everything.
        public var retentionDays: Int? = 30
        public init() {}
    }

    /// One write for the writer thread.
    enum Write {
        case insert(InferenceEvent)
        case shadow(requestID: String, ShadowOutcome)
    }

    public let path: String
    public let options: Options
    private let lock = NSCondition()
    private var queue: [Write] = []
    private var writing = false
    private var closed = false
    private var droppedCount = 0
    private var writeError: String?
    private var thread: Thread?

    /// Opens (and creates or migrates) the database at `path`, then starts the writer.
    public init(path: String, options: Options = Options()) throws {
        self.path = path
        self.options = options
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let db = try SQLiteConnection(path: path)
        try InferenceSchema.migrate(db)
        if let days = options.retentionDays { try InferenceSchema.deleteOlder(than: days, in: db) }
        // The writer thread becomes the connection's only user.
        nonisolated(unsafe) let owned = db
        // The thread keeps the log alive until `close()` ends it.
        let t = Thread { self.run(owned) }
        t.name = "elixir-coder.inference-log"
        thread = t
        t.start()
    }

    /// Queues an event; returns false (and counts it) when the queue is full.
    @discardableResult
    public func record(_ event: InferenceEvent) -> Bool { enqueue(.insert(event)) }

    /// Attaches a shadow model's outcome to an already recorded request.
    @discardableResult
    public func recordShadow(requestID: String, _ outcome: ShadowOutcome) -> Bool { enqueue(.shadow(requestID: requestID, outcome)) }

    /// Events dropped because the queue was full.
    public var dropped: Int { lock.withLock { droppedCount } }

    /// The last error the writer hit, if any (the writer keeps going).
    public var lastError: String? { lock.withLock { writeError } }

    /// Waits until everything queued so far is written.
    public func flush() {
        lock.lock()
        while !queue.isEmpty || writing { lock.wait() }
        lock.unlock()
    }

    /// Writes what is queued and stops the writer.
    public func close() {
        lock.lock()
        guard !closed else { lock.unlock(); return }
        closed = true
        lock.broadcast()
        while !queue.isEmpty || writing { lock.wait() }
        lock.unlock()
    }

    private func enqueue(_ w: Write) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        guard !closed, queue.count < options.queueCapacity else {
            droppedCount += 1
            return false
        }
        queue.append(w)
        lock.signal()
        return true
    }

    private func run(_ db: SQLiteConnection) {
        while true {
            lock.lock()
            while queue.isEmpty && !closed { lock.wait() }
            if queue.isEmpty && closed {
                lock.unlock()
                return
            }
            let batch = queue
            queue.removeAll(keepingCapacity: true)
            writing = true
            lock.unlock()
            var failure: String?
            do {
                try db.transaction {
                    for w in batch { try InferenceSchema.write(w, to: db, tokens: options.tokenTable) }
                }
            } catch {
                failure = "\(error)"
            }
            lock.lock()
            writing = false
            if let failure { writeError = failure }
            lock.broadcast()
            lock.unlock()
        }
    }
}

/// Tables, migrations and queries of the inference log.
public enum InferenceSchema {
    /// Each entry moves the schema one version up (`PRAGMA user_version`).
    static let migrations: [String] = [
        """
        CREATE TABLE events (
            id INTEGER PRIMARY KEY,
            ts REAL NOT NULL,
            request_id TEXT NOT NULL UNIQUE,
            kind TEXT NOT NULL,
            instance TEXT NOT NULL,
            model_version TEXT NOT NULL,
            prompt_sha256 TEXT NOT NULL,
            prompt_preview TEXT,
            prompt_tokens INTEGER NOT NULL,
            completion_tokens INTEGER NOT NULL,
            latency_ms REAL NOT NULL,
            avg_logprob REAL,
            entropy REAL,
            entropy_source TEXT,
            top1_prob REAL,
            lowest_tokens TEXT,
            decision TEXT,
            attempts INTEGER NOT NULL,
            check_outcome TEXT,
            status TEXT NOT NULL,
            error TEXT
        );
        CREATE INDEX events_ts ON events(ts);
        CREATE INDEX events_model_ts ON events(model_version, ts);
        CREATE TABLE token_stats (
            event_id INTEGER NOT NULL REFERENCES events(id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            token TEXT NOT NULL,
            logprob REAL NOT NULL,
            entropy REAL NOT NULL,
            PRIMARY KEY (event_id, position)
        ) WITHOUT ROWID;
        """,
        """
        ALTER TABLE events ADD COLUMN shadow_instance TEXT;
        ALTER TABLE events ADD COLUMN shadow_status TEXT;
        ALTER TABLE events ADD COLUMN shadow_error TEXT;
        ALTER TABLE events ADD COLUMN shadow_latency_ms REAL;
        ALTER TABLE events ADD COLUMN shadow_avg_logprob REAL;
        ALTER TABLE events ADD COLUMN shadow_logprob_diff REAL;
        ALTER TABLE events ADD COLUMN shadow_same_cluster INTEGER;
        ALTER TABLE events ADD COLUMN shadow_clean INTEGER;
        ALTER TABLE events ADD COLUMN primary_clean INTEGER;
        """,
        """
        CREATE VIEW events_hourly AS
        SELECT strftime('%Y-%m-%dT%H:00:00Z', ts, 'unixepoch') AS hour,
               model_version,
               count(*) AS events,
               avg(latency_ms) AS avg_latency_ms,
               avg(avg_logprob) AS avg_logprob,
               avg(entropy) AS avg_entropy,
               sum(decision = 'abstain') AS abstained,
               sum(status = 'error') AS errors
        FROM events GROUP BY hour, model_version;
        """,
    ]

    public static var version: Int { migrations.count }

    /// Brings the database to the current schema; WAL so readers never block the writer.
    public static func migrate(_ db: SQLiteConnection) throws {
        try db.execute("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;")
        let current = Int(try db.query("PRAGMA user_version").first?.first?.int ?? 0)
        guard current <= migrations.count else {
            throw SQLiteError(code: 0, message: "\(db.path): schema version \(current) is newer than this ElixirCoder knows (\(migrations.count))")
        }
        for v in current..<migrations.count {
            try db.transaction {
                try db.execute(migrations[v])
                try db.execute("PRAGMA user_version = \(v + 1)")
            }
        }
    }

    /// Retention: drops events (and their tokens) older than `days`.
    @discardableResult
    public static func deleteOlder(than days: Int, in db: SQLiteConnection, now: Date = Date()) throws -> Int {
        try db.query("DELETE FROM events WHERE ts < ?", [.double(now.timeIntervalSince1970 - Double(days) * 86400)])
        return db.changes
    }

    static func write(_ w: InferenceLog.Write, to db: SQLiteConnection, tokens: Bool) throws {
        switch w {
        case .insert(let e):
            let c = e.confidence
            let lowest = try c.map { String(decoding: try JSONEncoder().encode($0.lowest), as: UTF8.self) }
            try db.query("""
                INSERT INTO events (ts, request_id, kind, instance, model_version, prompt_sha256, prompt_preview, prompt_tokens,
                  completion_tokens, latency_ms, avg_logprob, entropy, entropy_source, top1_prob, lowest_tokens, decision, attempts,
                  check_outcome, status, error) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)
                """, [.double(e.timestamp.timeIntervalSince1970), .text(e.requestID), .text(e.kind), .text(e.instance), .text(e.modelVersion),
                      .text(e.promptSHA256), opt(e.promptPreview), .int(Int64(e.promptTokens)), .int(Int64(e.completionTokens)),
                      .double(e.latencyMs), opt(c?.avgLogprob), opt(c?.entropy), opt(c?.entropySource.rawValue), opt(c?.top1Probability),
                      opt(lowest), opt(e.decision?.rawValue), .int(Int64(e.attempts)), opt(e.checkOutcome), .text(e.status.rawValue), opt(e.error)])
            let id = db.lastInsertRowID
            if let shadow = e.shadow { try writeShadow(e.requestID, shadow, db) }
            if tokens, let stats = e.tokens {
                try db.executeMany("INSERT INTO token_stats (event_id, position, token, logprob, entropy) VALUES (?,?,?,?,?)",
                                   stats.enumerated().map { [.int(id), .int(Int64($0.offset)), .text($0.element.token), .double($0.element.logprob), .double($0.element.entropy)] })
            }
        case .shadow(let id, let s):
            try writeShadow(id, s, db)
        }
    }

    private static func writeShadow(_ requestID: String, _ s: ShadowOutcome, _ db: SQLiteConnection) throws {
        try db.query("""
            UPDATE events SET shadow_instance = ?, shadow_status = ?, shadow_error = ?, shadow_latency_ms = ?, shadow_avg_logprob = ?,
              shadow_logprob_diff = ?, shadow_same_cluster = ?, shadow_clean = ?, primary_clean = ? WHERE request_id = ?
            """, [.text(s.instance), .text(s.status.rawValue), opt(s.error), opt(s.latencyMs), opt(s.avgLogprob), opt(s.logprobDiff),
                  opt(s.sameCluster), opt(s.shadowClean), opt(s.primaryClean), .text(requestID)])
    }

    static func opt(_ v: String?) -> SQLValue { v.map { .text($0) } ?? .null }
    static func opt(_ v: Double?) -> SQLValue { v.map { .double($0) } ?? .null }
    static func opt(_ v: Bool?) -> SQLValue { v.map { .int($0 ? 1 : 0) } ?? .null }

    static let columns = """
        ts, request_id, kind, instance, model_version, prompt_sha256, prompt_preview, prompt_tokens, completion_tokens, latency_ms,
        avg_logprob, entropy, entropy_source, top1_prob, lowest_tokens, decision, attempts, check_outcome, status, error,
        shadow_instance, shadow_status, shadow_error, shadow_latency_ms, shadow_avg_logprob, shadow_logprob_diff, shadow_same_cluster,
        shadow_clean, primary_clean
        """

    /// The most recent events, newest first; `since` limits them to a time window.
    public static func recent(_ limit: Int, since: Date? = nil, in db: SQLiteConnection) throws -> [InferenceEvent] {
        try db.query("SELECT \(columns) FROM events WHERE ts >= ? ORDER BY ts DESC, id DESC LIMIT ?",
                     [.double(since?.timeIntervalSince1970 ?? 0), .int(Int64(limit))]).map(event)
    }

    /// The hourly rollup view, newest hour first.
    public static func hourly(limit: Int = 24, in db: SQLiteConnection) throws -> [HourlyRollup] {
        try db.query("SELECT hour, model_version, events, avg_latency_ms, avg_logprob, avg_entropy, abstained, errors FROM events_hourly ORDER BY hour DESC LIMIT ?",
                     [.int(Int64(limit))]).map { r in
            HourlyRollup(hour: r[0].text ?? "", modelVersion: r[1].text ?? "", events: Int(r[2].int ?? 0), avgLatencyMs: r[3].double ?? 0,
                         avgLogprob: r[4].double, avgEntropy: r[5].double, abstained: Int(r[6].int ?? 0), errors: Int(r[7].int ?? 0))
        }
    }

    public static func count(in db: SQLiteConnection) throws -> Int { Int(try db.query("SELECT count(*) FROM events").first?.first?.int ?? 0) }

    private static func event(_ r: [SQLValue]) -> InferenceEvent {
        var e = InferenceEvent(requestID: r[1].text ?? "", kind: r[2].text ?? "", instance: r[3].text ?? "", modelVersion: r[4].text ?? "",
                               promptSHA256: r[5].text ?? "", promptPreview: r[6].text, promptTokens: Int(r[7].int ?? 0),
                               completionTokens: Int(r[8].int ?? 0), latencyMs: r[9].double ?? 0,
                               decision: r[15].text.flatMap(GatingDecision.init(rawValue:)), attempts: Int(r[16].int ?? 1),
                               checkOutcome: r[17].text, status: r[18].text.flatMap(InferenceEvent.Status.init(rawValue:)) ?? .error, error: r[19].text,
                               timestamp: Date(timeIntervalSince1970: r[0].double ?? 0))
        if let avg = r[10].double, let entropy = r[11].double, let top1 = r[13].double {
            let lowest = r[14].text.flatMap { try? JSONDecoder().decode([ConfidenceMetrics.Token].self, from: Data($0.utf8)) } ?? []
            e.confidence = ConfidenceMetrics(avgLogprob: avg, entropy: entropy,
                                             entropySource: r[12].text.flatMap(ConfidenceMetrics.EntropySource.init(rawValue:)) ?? .fullDistribution,
                                             top1Probability: top1, tokenCount: Int(r[8].int ?? 0), lowest: lowest)
        }
        if let instance = r[20].text {
            e.shadow = ShadowOutcome(instance: instance, status: r[21].text.flatMap(ShadowOutcome.Status.init(rawValue:)) ?? .error,
                                     error: r[22].text, latencyMs: r[23].double, avgLogprob: r[24].double, logprobDiff: r[25].double,
                                     sameCluster: r[26].int.map { $0 != 0 }, shadowClean: r[27].int.map { $0 != 0 }, primaryClean: r[28].int.map { $0 != 0 })
        }
        return e
    }
}

/// One row of the hourly rollup view.
public struct HourlyRollup: Sendable, Codable, Equatable {
    public var hour: String
    public var modelVersion: String
    public var events: Int
    public var avgLatencyMs: Double
    public var avgLogprob: Double?
    public var avgEntropy: Double?
    public var abstained: Int
    public var errors: Int
}
