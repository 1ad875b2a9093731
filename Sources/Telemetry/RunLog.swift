import Foundation

/// How much a run log keeps. Each level adds to the one before.
public enum LogLevel: String, Sendable, Codable, CaseIterable, Comparable {
    /// No run log file.
    case off
    /// Run metadata, phase timings and the outcome.
    case minimal
    /// Plus per-attempt statistics.
    case standard
    /// Plus every candidate's code and problems.
    case detailed
    /// Plus every token with its log-probability and entropy.
    case debug

    public static func < (a: LogLevel, b: LogLevel) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}

/// Where and what the run logger writes.
public struct RunLogSettings: Sendable {
    public var level: LogLevel
    public var directory: URL
    /// Oldest run logs beyond this many are deleted.
    public var maxFiles: Int

    public init(level: LogLevel = .minimal, directory: URL, maxFiles: Int = 50) {
        self.level = level
        self.directory = directory
        self.maxFiles = maxFiles
    }
}

/// What produced a run: versions, configuration and machine.
public struct RunMetadata: Sendable, Codable, Equatable {
    public var runID: String
    public var startedAt: Date
    public var command: String
    public var version: String
    public var gitCommit: String?
    public var configSHA256: String
    public var model: String?
    public var modelSHA256: String?
    public var environment: Environment

    /// The machine and toolchain.
    public struct Environment: Sendable, Codable, Equatable {
        public var os: String
        public var cpu: String
        public var cores: Int
        public var memoryGiB: Double
        public var swiftVersion: String

        public static func current() -> Environment {
            var u = utsname()
            uname(&u)
            func field<T>(_ v: T) -> String { withUnsafeBytes(of: v) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) } }
            let cpu = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?
                .split(separator: "\n").first { $0.hasPrefix("model name") }
                .flatMap { $0.split(separator: ":", maxSplits: 1).last }
                .map { $0.trimmingCharacters(in: .whitespaces) } ?? "unknown"
            return Environment(os: "\(field(u.sysname)) \(field(u.release)) \(field(u.machine))", cpu: cpu,
                               cores: ProcessInfo.processInfo.activeProcessorCount,
                               memoryGiB: (Double(ProcessInfo.processInfo.physicalMemory) / 1_073_741_824 * 10).rounded() / 10,
                               swiftVersion: compilerVersion)
        }

        static var compilerVersion: String {
            #if compiler(>=6.4)
            "6.4+"
            #elseif compiler(>=6.3)
            "6.3"
            #elseif compiler(>=6.2)
            "6.2"
            #elseif compiler(>=6.1)
            "6.1"
            #else
            "6.0"
            #endif
        }
    }

    public init(command: String, version: String, configSHA256: String, model: String? = nil, modelSHA256: String? = nil,
                gitCommit: String? = nil, runID: String = UUID().uuidString.lowercased().prefix(8).description, startedAt: Date = Date()) {
        self.runID = runID
        self.startedAt = startedAt
        self.command = command
        self.version = version
        self.gitCommit = gitCommit
        self.configSHA256 = configSHA256
        self.model = model
        self.modelSHA256 = modelSHA256
        environment = .current()
    }
}

/// Wall-clock seconds per pipeline phase (clarify, sample, check, repair, explain, ...), summed over repeats.
public struct PhaseTimings: Sendable, Codable, Equatable {
    public private(set) var seconds: [String: Double] = [:]

    public init() {}

    public mutating func add(_ phase: String, _ s: Double) { seconds[phase, default: 0] += s }

    /// Times `body` under `phase`.
    public mutating func measure<T>(_ phase: String, _ body: () async throws -> T) async rethrows -> T {
        let start = DispatchTime.now().uptimeNanoseconds
        defer { add(phase, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9) }
        return try await body()
    }

    public mutating func merge(_ other: PhaseTimings) { for (k, v) in other.seconds { add(k, v) } }
}

/// One run's log: metadata, timings and a body whose detail follows the level.
public struct RunRecord<Body: Encodable & Sendable>: Encodable, Sendable {
    public var metadata: RunMetadata
    public var level: LogLevel
    public var timings: PhaseTimings
    public var totalSeconds: Double
    public var summary: [String: String]
    public var body: Body

    public init(metadata: RunMetadata, level: LogLevel, timings: PhaseTimings, totalSeconds: Double, summary: [String: String], body: Body) {
        self.metadata = metadata
        self.level = level
        self.timings = timings
        self.totalSeconds = totalSeconds
        self.summary = summary
        self.body = body
    }
}

/// The small uncompressed file written beside each run log.
public struct RunSummaryFile: Codable, Sendable, Equatable {
    public var metadata: RunMetadata
    public var level: LogLevel
    public var timings: PhaseTimings
    public var totalSeconds: Double
    public var summary: [String: String]
    public var log: String
}

/// Writes one gzip-compressed JSON file per run into `<directory>/<YYYY-MM-DD>/`, plus a summary.
public struct RunLogger: Sendable {
    public let settings: RunLogSettings

    public init(settings: RunLogSettings) {
        self.settings = settings
    }

    /// Writes the log and its summary; returns the log's URL, or nil when logging is off.
    @discardableResult
    public func write<Body>(_ record: RunRecord<Body>) throws -> URL? {
        guard settings.level != .off else { return nil }
        let day = Self.format(record.metadata.startedAt, "yyyy-MM-dd")
        let folder = settings.directory.appendingPathComponent(day)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let stem = "\(record.metadata.command)_\(Self.format(record.metadata.startedAt, "HH-mm-ss"))_\(record.metadata.runID)"
        let log = folder.appendingPathComponent(stem + ".json.gz")
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        try Gzip.compress(try encoder.encode(record)).write(to: log, options: .atomic)
        let summary = RunSummaryFile(metadata: record.metadata, level: record.level, timings: record.timings,
                                     totalSeconds: record.totalSeconds, summary: record.summary, log: log.lastPathComponent)
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        try encoder.encode(summary).write(to: folder.appendingPathComponent(stem + "_summary.json"), options: .atomic)
        try prune()
        return log
    }

    /// Keeps the newest `maxFiles` run logs (with their summaries); drops emptied date folders.
    func prune() throws {
        let fm = FileManager.default
        var logs: [(URL, Date)] = []
        for day in (try? fm.contentsOfDirectory(at: settings.directory, includingPropertiesForKeys: nil)) ?? [] {
            for f in (try? fm.contentsOfDirectory(at: day, includingPropertiesForKeys: [.contentModificationDateKey])) ?? []
            where f.lastPathComponent.hasSuffix(".json.gz") {
                logs.append((f, (try? f.resourceValues(forKeys: [.contentModificationDateKey]).contentModificationDate) ?? .distantPast))
            }
        }
        guard logs.count > settings.maxFiles else { return }
        logs.sort { ($0.1, $0.0.lastPathComponent) < ($1.1, $1.0.lastPathComponent) }
        for (url, _) in logs.prefix(logs.count - settings.maxFiles) {
            try? fm.removeItem(at: url)
            try? fm.removeItem(at: URL(fileURLWithPath: String(url.path.dropLast(".json.gz".count)) + "_summary.json"))
            let folder = url.deletingLastPathComponent()
            if (try? fm.contentsOfDirectory(atPath: folder.path))?.isEmpty == true { try? fm.removeItem(at: folder) }
        }
    }

    static func format(_ d: Date, _ pattern: String) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = pattern
        return f.string(from: d)
    }
}
