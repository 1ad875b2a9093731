import ArgumentParser
import CommandLineOptions
import ElixirCoderCore
import Engine
import Foundation

/// `elixir-coder-bench serve`: throughput and latency through the stdio server, batched against sequential.
struct BenchServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Measure generate through `serve --stdio`: concurrency 1, 4, 10, 16 against sequential (and at 10 with the confidence gate off), end-to-end latency, and loop quality on a task set."
    )

    @Option(help: "Concurrency levels.") var concurrency: [Int] = [1, 4, 10, 16]
    @Option(help: "Tokens per candidate in the throughput runs.") var maxTokens = 64
    @Option(help: "Requests per concurrency slot in the throughput runs: at concurrency c, c x this many requests, c in flight at a time (sequentially, the same requests one at a time).") var rounds = 3
    @Option(help: "Sequential and concurrent runs per level, alternating; each pair gives a ratio and the median is reported (a shared machine's slow spells last seconds and shift whole runs).") var pairs = 1
    @Option(help: "Task set for the quality run (JSON lines with id and task).") var tasks = "bench/tasks.jsonl"
    @Option(help: "Tasks from the set to run for quality (0 skips the quality run).") var qualityTasks = 10
    @Option(help: "Requests in the end-to-end latency run.") var e2eRequests = 8
    @Flag(help: "Print JSON.") var json = false

    func validate() throws {
        guard e2eRequests >= 1 else { throw ValidationError("--e2e-requests must be at least 1") }
        guard rounds >= 1 else { throw ValidationError("--rounds must be at least 1") }
        guard pairs >= 1 else { throw ValidationError("--pairs must be at least 1") }
        guard concurrency.allSatisfy({ $0 >= 1 }) else { throw ValidationError("--concurrency levels must be at least 1") }
    }

    /// The server's engine figures so far (nil when its model is remote).
    static func engine(_ server: StdioServer, id: Int) throws -> EngineActivity? {
        server.send(["jsonrpc": "2.0", "id": id, "method": "health"])
        var m: [String: Any] = [:]
        repeat { m = try server.next() } while (m["id"] as? Int) != id
        guard let e = (m["result"] as? [String: Any])?["engine"], !(e is NSNull) else { return nil }
        return try JSONDecoder().decode(EngineActivity.self, from: JSONSerialization.data(withJSONObject: e))
    }

    struct Run: Encodable {
        let mode: String
        let concurrency: Int
        let requests: Int
        /// Whether the confidence gate ran (the default); off, only first rounds run.
        let gate: Bool
        let tokens: Int
        let seconds: Double
        let tokensPerSecond: Double
        let p50: Double
        let p95: Double
        /// Which of the level's pairs this run belongs to.
        let pair: Int
        /// What the server's engine did during the run.
        let engine: EngineActivity?

        /// Tokens per second of forward passes, over all of them and over the decode rows' share
        /// (by rows: a prompt row costs about what a decode row costs).
        var forwardRate: Double? { engine.map { Double($0.tokens) / $0.forwardSeconds } }
        var decodeRate: Double? {
            engine.map { e in Double(e.tokens) / (e.forwardSeconds * Double(e.decodeRows) / Double(e.decodeRows + e.promptRows)) }
        }
    }

    /// Sends `count` generate requests, `window` in flight at a time; returns latencies and tokens.
    /// - Parameter topic: the task text; request i asks for variant i of it.
    func measure(_ client: StdioServer, count: Int, window: Int, firstID: Int, candidates: Int, maxTokens: Int, gate: Bool = true,
                 topic: String = "Return the sum of a list of integers") throws -> (latencies: [Double], tokens: Int, seconds: Double) {
        var sent: [Int: Date] = [:]
        var latencies: [Double] = []
        var tokens = 0
        var next = 0
        let start = Date()
        func launch() throws {
            let id = firstID + next
            client.send(["jsonrpc": "2.0", "id": id, "method": "generate",
                             "params": ["task": "\(topic), variant \(next).", "candidates": candidates, "maxAttempts": 1, "maxTokens": maxTokens, "seed": next, "gate": gate]])
            sent[id] = Date()
            next += 1
        }
        while next < min(window, count) { try launch() }
        while latencies.count < count {
            let m = try client.next()
            guard let id = m["id"] as? Int, let t0 = sent[id] else { continue }
            latencies.append(Date().timeIntervalSince(t0))
            if let r = m["result"] as? [String: Any], let attempts = r["attempts"] as? [[String: Any]] {
                for a in attempts { for c in a["candidates"] as? [[String: Any]] ?? [] { tokens += c["tokens"] as? Int ?? 0 } }
            }
            if next < count { try launch() }
        }
        return (latencies.sorted(), tokens, Date().timeIntervalSince(start))
    }

    func run() async throws {
        // Served as users run it: with its logs and inference log (stderr is not read).
        let client = try StdioServer(options: [])
        defer { client.stop() }
        // Warm up: the first request loads the model.
        _ = try measure(client, count: 1, window: 1, firstID: 1_000_000, candidates: 1, maxTokens: 4)
        var runs: [Run] = []
        var id = 1
        func pct(_ xs: [Double], _ p: Double) -> Double { xs[min(xs.count - 1, Int(Double(xs.count) * p))] }
        // The product's default, gate on; then, at 10, first rounds only: the gate's reflect
        // rounds wait for a request's first round, so they cannot share its batch.
        let plan = concurrency.map { ($0, true) } + (concurrency.contains(10) ? [(10, false)] : [])
        for (c, gate) in plan {
            for (pair, mode) in (0..<pairs).flatMap({ p in ["sequential", "concurrent"].map { (p, $0) } }) {
                // Both runs of a pair send the same requests, so they sample the same programs;
                // unrelated prompts first push the pair's out of the server's prompt cache, so
                // the second run does not find them prefilled.
                _ = try measure(client, count: 8, window: 1, firstID: id, candidates: 1, maxTokens: 1, gate: false, topic: "Return the length of a list")
                id += 8
                let count = c * rounds
                let before = try Self.engine(client, id: id)
                id += 1
                let m = try measure(client, count: count, window: mode == "sequential" ? 1 : c, firstID: id, candidates: 1, maxTokens: maxTokens, gate: gate)
                id += count
                let after = try Self.engine(client, id: id)
                id += 1
                let engine = after.flatMap { a in before.map { a - $0 } }
                let run = Run(mode: mode, concurrency: c, requests: count, gate: gate, tokens: m.tokens, seconds: m.seconds,
                              tokensPerSecond: Double(m.tokens) / m.seconds, p50: pct(m.latencies, 0.5), p95: pct(m.latencies, 0.95), pair: pair, engine: engine)
                runs.append(run)
                if !json { Stderr.print(String(format: "%@ x%d%@: %.1f tok/s, p50 %.2f s, p95 %.2f s", mode, c, gate ? "" : " (gate off)", run.tokensPerSecond, run.p50, run.p95)) }
            }
        }
        // End to end as a user runs it: 5 candidates, up to 256 tokens, up to 3 attempts.
        let e2e = try measure(client, count: e2eRequests, window: 1, firstID: id, candidates: 5, maxTokens: 256)
        id += e2eRequests

        var quality: [String: Double] = [:]
        if qualityTasks > 0, let taskTexts = try? TaskSet.tasks(tasks, limit: qualityTasks) {
            var answered = 0, attemptsUsed = 0, problemsLeft = 0
            for task in taskTexts {
                client.send(["jsonrpc": "2.0", "id": id, "method": "generate", "params": ["task": task]])
                var m: [String: Any] = [:]
                repeat { m = try client.next() } while (m["id"] as? Int) != id
                id += 1
                let r = m["result"] as? [String: Any] ?? [:]
                if ["verified", "compiled"].contains(r["status"] as? String) { answered += 1 }
                attemptsUsed += (r["attempts"] as? [Any])?.count ?? 0
                problemsLeft += (r["problems"] as? [Any])?.count ?? 0
            }
            let n = Double(taskTexts.count)
            quality = ["tasks": n, "answered_share": Double(answered) / n, "mean_attempts": Double(attemptsUsed) / n, "problems_left": Double(problemsLeft)]
        }

        /// Concurrent over sequential at 10 (tokens/s unless `rate` says otherwise), one ratio per pair;
        /// empty when 10 was not measured.
        func ratios(gate: Bool, _ rate: (Run) -> Double? = { $0.tokensPerSecond }) -> [Double] {
            (0..<pairs).compactMap { p in
                let pair = ["sequential", "concurrent"].map { mode in runs.first { $0.mode == mode && $0.concurrency == 10 && $0.gate == gate && $0.pair == p }.flatMap(rate) }
                guard let seq = pair[0], let con = pair[1] else { return nil }
                return con / seq
            }
        }
        func ratio(gate: Bool, _ rate: (Run) -> Double? = { $0.tokensPerSecond }) -> Double? {
            let rs = ratios(gate: gate, rate).sorted()
            return rs.isEmpty ? nil : rs[rs.count / 2]
        }
        if json {
            struct Out: Encodable {
                let runs: [Run]; let ratio_at_10: Double?; let ratio_at_10_gate_off: Double?; let ratios_at_10: [Double]; let ratios_at_10_gate_off: [Double]
                let forward_ratio_at_10: Double?; let decode_ratio_at_10: Double?
                let e2e_p50: Double; let e2e_p95: Double; let e2e_max: Double; let quality: [String: Double]
            }
            return try printJSON(Out(runs: runs, ratio_at_10: ratio(gate: true), ratio_at_10_gate_off: ratio(gate: false),
                                     ratios_at_10: ratios(gate: true), ratios_at_10_gate_off: ratios(gate: false),
                                     forward_ratio_at_10: ratio(gate: true, \.forwardRate), decode_ratio_at_10: ratio(gate: true, \.decodeRate), e2e_p50: pct(e2e.latencies, 0.5),
                                     e2e_p95: pct(e2e.latencies, 0.95), e2e_max: e2e.latencies.last ?? 0, quality: quality))
        }
        print("elixir-coder-bench serve (through serve --stdio, 1 candidate per request, \(maxTokens) tokens, 1 attempt)")
        print("mode        conc  gate  pair  tok/s    p50 s   p95 s  rows/pass  tok/pass  ms/pass  prompt rows  sampling  busy")
        for r in runs {
            var line = String(format: "%-11@ %4d  %@  %4d  %7.1f  %6.2f  %6.2f", r.mode, r.concurrency, r.gate ? "on " : "off", r.pair + 1, r.tokensPerSecond, r.p50, r.p95)
            if let e = r.engine, e.passes > 0 {
                let passes = Double(e.passes), rows = Double(e.promptRows + e.decodeRows)
                line += String(format: "  %9.1f  %8.1f  %7.1f  %10.0f%%  %7.0f%%  %3.0f%%", rows / passes, Double(e.tokens) / passes, e.forwardSeconds * 1000 / passes,
                               Double(e.promptRows) / rows * 100, e.samplingSeconds / e.stepSeconds * 100, e.stepSeconds / r.seconds * 100)
            }
            print(line)
        }
        if let on = ratio(gate: true), let off = ratio(gate: false) {
            let list = { (g: Bool) in ratios(gate: g).map { String(format: "%.2f", $0) }.joined(separator: ", ") }
            let each = pairs > 1 ? " over \(pairs) pairs: on \(list(true)); off \(list(false))" : ""
            print(String(format: "batched / sequential at 10%@: %.2fx (gate off, first rounds only: %.2fx)", pairs > 1 ? " (median)" : "", on, off) + each)
            if let forward = ratio(gate: true, \.forwardRate), let decode = ratio(gate: true, \.decodeRate) {
                // What bounds the ratio: the decode rows alone, then with the prompts' rows (the same
                // work in both modes), then the whole run (sampling, the monitor, waiting).
                print(String(format: "  made of (gate on): tokens per forward second over the decode rows' share %.2fx, over all forward time %.2fx, over the run %.2fx", decode, forward, on))
            }
        }
        print(String(format: "generate end to end (%d requests, 5 candidates, <=256 tokens, <=3 attempts): p50 %.2f s, p95 %.2f s, max %.2f s",
                     e2eRequests, pct(e2e.latencies, 0.5), pct(e2e.latencies, 0.95), e2e.latencies.last ?? 0))
        if !quality.isEmpty {
            print(String(format: "quality on %.0f tasks: %.0f%% verified or compiled, %.2f attempts on average, %.0f problems left", quality["tasks"]!, quality["answered_share"]! * 100, quality["mean_attempts"]!, quality["problems_left"]!))
        }
    }
}
