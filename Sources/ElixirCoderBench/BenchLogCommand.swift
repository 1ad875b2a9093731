import ArgumentParser
import CommandLineOptions
import ElixirCoderApp
import ElixirCoderCore
import Foundation
import Pipeline
import Telemetry

/// `elixir-coder bench log`: what observability costs a request.
struct BenchLogCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "log",
        abstract: "Measure the inference log (cost of record() to the caller, writer throughput) and the run log at each level, against one real generate.",
        discussion: "With --events far larger than needed it doubles as a write load: the tests kill it mid-write to check that committed events survive."
    )

    @Option(help: "Synthetic events to record.") var events = 20000
    @Option(help: "Database file (default: a temporary one, removed afterwards).") var database: String?
    @Flag(help: "Skip the real generate used as the yardstick.") var noGenerate = false
    @OptionGroup var modelOptions: ModelOptions

    func run() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ec-bench-log-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = database ?? dir.appendingPathComponent("log.sqlite").path
        var options = InferenceLog.Options()
        options.tokenTable = false
        options.retentionDays = nil
        let log = try InferenceLog(path: path, options: options)
        let confidence = ConfidenceMetrics(avgLogprob: -0.6, entropy: 1.4, entropySource: .fullDistribution, top1Probability: 0.7, tokenCount: 180,
                                           lowest: (0..<5).map { .init(position: $0 * 10, text: " def", probability: 0.05) })
        var callerNanos: UInt64 = 0
        var accepted = 0
        let start = DispatchTime.now().uptimeNanoseconds
        for i in 0..<events {
            let e = InferenceEvent(kind: "generate", instance: "bench", modelVersion: "bench@0", promptSHA256: String(repeating: "a", count: 64),
                                   promptTokens: 400, completionTokens: 900, latencyMs: Double(i % 5000), confidence: confidence,
                                   decision: .proceed, attempts: 1, checkOutcome: "verified")
            let t0 = DispatchTime.now().uptimeNanoseconds
            let ok = log.record(e)
            callerNanos += DispatchTime.now().uptimeNanoseconds - t0
            if ok { accepted += 1 } else {
                // A full queue: give the writer a moment, as a real request would take far longer than this loop.
                usleep(500)
            }
        }
        log.close()
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        let perRecordMicros = Double(callerNanos) / Double(max(1, events)) / 1000
        print(String(format: "inference log: %d events in %.2f s (%.0f events/s written), record() costs the caller %.1f µs, %d dropped", accepted, seconds,
                     Double(accepted) / seconds, perRecordMicros, log.dropped))

        guard !noGenerate else { return }
        // A real generate is the yardstick, and its result is what the run logs below write.
        let setup = try GenerationSetup.make(modelOptions: modelOptions, observability: nil, quiet: true)
        defer { setup.close() }
        var g = GenerateOptions()
        g.candidates = 5
        g.maxAttempts = 1
        g.gating = nil
        let t0 = Date()
        let result = try await setup.observed.generate(task: "Write a function that returns the sum of the squares of a list of integers.", options: g)
        let generateMs = Date().timeIntervalSince(t0) * 1000
        // The run log at each level, for that result.
        let tokenizer = setup.observed.primary.instance.tokenizer
        var levelMillis: [(LogLevel, Double, Int)] = []
        for level in LogLevel.allCases where level != .off {
            let logger = RunLogger(settings: RunLogSettings(level: level, directory: dir.appendingPathComponent("runs-\(level.rawValue)"), maxFiles: 50))
            let rounds = 20
            let t0 = DispatchTime.now().uptimeNanoseconds
            var url: URL?
            for _ in 0..<rounds {
                let record = RunRecord(metadata: RunMetadata(command: "generate", version: BuildInfo.version, configSHA256: "x"), level: level,
                                       timings: result.timings, totalSeconds: 1, summary: ["status": "verified"],
                                       body: GenerateRunBody(results: [result], level: level, tokenizer: tokenizer))
                url = try logger.write(record)
            }
            let ms = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6 / Double(rounds)
            let size = (try? FileManager.default.attributesOfItem(atPath: url!.path)[.size] as? Int) ?? 0
            levelMillis.append((level, ms, size))
        }
        for (level, ms, size) in levelMillis { print(String(format: "run log %-8@ %6.2f ms per run, %7d bytes gzip", level.rawValue, ms, size)) }

        let minimal = levelMillis.first { $0.0 == .minimal }!.1
        print(String(format: "one generate (5 candidates, 1 attempt): %.0f ms; minimal observability (one event + minimal run log) adds %.3f ms = %.4f%%",
                     generateMs, minimal + perRecordMicros / 1000, (minimal + perRecordMicros / 1000) / generateMs * 100))
    }
}
