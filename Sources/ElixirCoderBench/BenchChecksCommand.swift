import ArgumentParser
import CommandLineOptions
import Checks
import ElixirCoderCore
import Foundation

/// `elixir-coder bench checks`: fidelity to the real Credo and Sobelow, warm-checker latency per check,
/// the built-in rules on a 300-line file, cold-process latency, concurrent throughput.
struct BenchChecksCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "checks",
        abstract: "Fidelity of the built-in rules to the real tools' recorded findings; checker latency (warm and cold) and throughput.")

    @Option(help: "Requests per figure.") var requests = 50
    @Option(help: "The recorded fixtures (findings.json and snippets/).") var fixtures = "Tests/Fixtures/elixir-tools"
    @Flag(help: "Only the fidelity table.") var fidelityOnly = false
    @Flag(help: "Print JSON.") var json = false

    /// A module of about `lines` lines exercising many rules.
    static func sample(lines target: Int = 100) -> String {
        var lines = ["defmodule Bench.Sample do", "  @moduledoc \"A generated module for timing.\"", ""]
        var n = 0
        while lines.count < target - 3 {
            lines += ["  @doc \"Function \(n).\"", "  def f\(n)(list, x) do", "    list", "    |> Enum.map(&(&1 * x))", "    |> Enum.filter(&(&1 > \(n)))", "  end", ""]
            n += 1
        }
        lines.append("end")
        return lines.joined(separator: "\n") + "\n"
    }

    func run() async throws {
        let code = Self.sample()
        let pool = try CheckerPool(size: 2)
        _ = try await pool.report(.all, code)  // start the processes
        var figures: [String: Double] = [:]
        func pct(_ xs: [Double], _ p: Double) -> Double { xs.sorted()[min(xs.count - 1, Int(Double(xs.count) * p))] }
        let fidelity = try await Fidelity.measure(fixtures: URL(fileURLWithPath: fixtures), pool: pool)
        for t in fidelity.totals {
            figures["\(t.tool)_recall"] = t.recall
            figures["\(t.tool)_precision"] = t.precision
            figures["\(t.tool)_column_agreement"] = t.columnAgreement
            if t.tool == "credo" { figures["credo_priority_band_agreement"] = t.bandAgreement }
        }
        if fidelityOnly {
            if json { return try printJSON(figures) }
            return Self.printFidelity(fidelity)
        }
        // All built-in rules (Credo's, Sobelow's, ours) on one 300-line file, warm.
        let file300 = Self.sample(lines: 300)
        var rules300: [Double] = []
        for _ in 0..<requests {
            let t = Date()
            _ = try await pool.report(.rules, file300)
            rules300.append(Date().timeIntervalSince(t) * 1000)
        }
        figures["rules_300_lines_median_ms"] = pct(rules300, 0.5)
        figures["rules_300_lines_p95_ms"] = pct(rules300, 0.95)
        for command: CheckerCommand in [.syntax, .format, .facts, .rules, .all] {
            var times: [Double] = []
            for _ in 0..<requests {
                let t = Date()
                _ = try await pool.report(command, code)
                times.append(Date().timeIntervalSince(t) * 1000)
            }
            figures["\(command.rawValue)_median_ms"] = pct(times, 0.5)
            figures["\(command.rawValue)_p95_ms"] = pct(times, 0.95)
        }
        // Cold: a fresh elixir process per check, as a naive integration would do.
        var cold: [Double] = []
        for _ in 0..<3 {
            let t = Date()
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            p.arguments = ["elixir", "-e", "Code.string_to_quoted(IO.read(:stdio, :eof))"]
            let input = Pipe()
            p.standardInput = input
            try p.run()
            input.fileHandleForWriting.write(Data(code.utf8))
            try input.fileHandleForWriting.close()
            p.waitUntilExit()
            cold.append(Date().timeIntervalSince(t) * 1000)
        }
        figures["cold_process_syntax_median_ms"] = pct(cold, 0.5)
        let t = Date()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<10 { group.addTask { for _ in 0..<(requests / 10 + 1) { _ = try await pool.report(.all, code) } } }
            try await group.waitForAll()
        }
        figures["throughput_10_concurrent_per_s"] = Double(10 * (requests / 10 + 1)) / Date().timeIntervalSince(t)
        if let worker = try? CompileWorker() {
            // A typical candidate: a small module and one example, compiled, run and unloaded in the sandbox.
            let candidate = "defmodule Squares do\n  @moduledoc \"Squares.\"\n\n  @doc \"Sums the squares.\"\n  def sum_squares(list) when is_list(list) do\n    list\n    |> Enum.map(&(&1 * &1))\n    |> Enum.sum()\n  end\nend\n"
            let examples = [Example(expression: "Squares.sum_squares([1, 2, 3])", expected: "14")]
            _ = try await worker.compile(candidate, examples: examples)
            var times: [Double] = []
            for _ in 0..<requests {
                let t = Date()
                _ = try await worker.compile(candidate, examples: examples)
                times.append(Date().timeIntervalSince(t) * 1000)
            }
            figures["compile_median_ms"] = pct(times, 0.5)
            figures["compile_p95_ms"] = pct(times, 0.95)
            var coldTimes: [Double] = []
            for _ in 0..<3 {
                let cold = try CompileWorker()
                let t = Date()
                _ = try await cold.compile(candidate, examples: examples)
                coldTimes.append(Date().timeIntervalSince(t) * 1000)
            }
            figures["compile_cold_median_ms"] = pct(coldTimes, 0.5)
        }
        try await Self.toolServer(fixtures: URL(fileURLWithPath: fixtures), requests: requests, pool: pool, into: &figures)
        if json { return try printJSON(figures) }
        Self.printFidelity(fidelity)
        print(String(format: "built-in rules on a 300-line file: median %.2f ms  p95 %.2f ms (target < 10 ms)",
                     figures["rules_300_lines_median_ms"]!, figures["rules_300_lines_p95_ms"]!))
        print("elixir-coder bench checks: 100-line file, warm checker pool of 2")
        for c in ["syntax", "format", "facts", "rules", "all"] {
            print(String(format: "%-8@ median %6.2f ms  p95 %6.2f ms", c, figures["\(c)_median_ms"]!, figures["\(c)_p95_ms"]!))
        }
        print(String(format: "cold process (elixir -e, syntax only): median %.0f ms", figures["cold_process_syntax_median_ms"]!))
        print(String(format: "10 concurrent requests (all checks): %.1f checks/s", figures["throughput_10_concurrent_per_s"]!))
        if let median = figures["compile_median_ms"] {
            print(String(format: "compile worker (sandboxed; a 10-line candidate and one example): median %.1f ms  p95 %.1f ms; a fresh worker per candidate: %.0f ms",
                         median, figures["compile_p95_ms"]!, figures["compile_cold_median_ms"]!))
        } else {
            print("compile worker: no sandbox here (install bubblewrap)")
        }
        if let warm = figures["tool_server_warm_credo_median_ms"] {
            print(String(format: "real-tool path (tool server in the stand-in project): first run %.0f ms (boot, compile); warm mix credo median %.1f ms p95 %.1f ms; check with both tools %.1f ms",
                         figures["tool_server_first_ms"]!, warm, figures["tool_server_warm_credo_p95_ms"]!, figures["tool_server_check_median_ms"]!))
        }
        print("targets: syntax < 5 ms median, full built-in rules < 30 ms median, compile < 50 ms median")
    }

    /// The real-tool path's own cost: the tool server in a copy of the stand-in project (whose tools
    /// replay recorded output, so the figures are the server's and mix's overhead, not Credo's work).
    static func toolServer(fixtures: URL, requests: Int, pool: CheckerPool, into figures: inout [String: Double]) async throws {
        let source = fixtures.appendingPathComponent("mix_projects/replay")
        guard FileManager.default.fileExists(atPath: source.path) else { return }
        let copy = FileManager.default.temporaryDirectory.appendingPathComponent("ec-bench-tools-\(UUID().uuidString)")
        try FileManager.default.copyItem(at: source, to: copy)
        defer { try? FileManager.default.removeItem(at: copy) }
        let path = copy.appendingPathComponent("snippets/c02_io_inspect.ex").path
        let file = CheckedFile(path: path, text: try String(contentsOfFile: path, encoding: .utf8))
        let tools = RealTools()
        guard let project = MixProject.locate(for: path, environment: [:]) else { return }
        var t = Date()
        _ = try await tools.run(.credo, in: project, files: [file], options: CheckOptions(strict: true))
        figures["tool_server_first_ms"] = Date().timeIntervalSince(t) * 1000
        var warm: [Double] = [], checks: [Double] = []
        for _ in 0..<requests {
            t = Date()
            _ = try await tools.run(.credo, in: project, files: [file], options: CheckOptions(strict: true))
            warm.append(Date().timeIntervalSince(t) * 1000)
        }
        let checker = ProjectChecks(pool: pool, tools: tools, environment: [:])
        for _ in 0..<max(1, requests / 5) {
            t = Date()
            _ = try await checker.check(file, only: nil, options: CheckOptions(strict: true))
            checks.append(Date().timeIntervalSince(t) * 1000)
        }
        func pct(_ xs: [Double], _ p: Double) -> Double { xs.sorted()[min(xs.count - 1, Int(Double(xs.count) * p))] }
        figures["tool_server_warm_credo_median_ms"] = pct(warm, 0.5)
        figures["tool_server_warm_credo_p95_ms"] = pct(warm, 0.95)
        figures["tool_server_check_median_ms"] = pct(checks, 0.5)
    }

    /// The fidelity table: one line per snippet and tool with findings, then the totals against the targets.
    static func printFidelity(_ f: Fidelity) {
        print("fidelity to the recorded real tools (check and line; band and column of the matched ones)")
        // Foundation on Linux ignores widths on %@, so strings are padded here.
        func pad(_ s: String, _ n: Int) -> String { s.padding(toLength: max(n, s.count), withPad: " ", startingAt: 0) }
        print(pad("snippet", 28) + pad("tool", 9) + " real  ours match   band  column  differences")
        for r in f.rows where r.real + r.ours > 0 {
            let diff = (r.missed.map { "missed " + $0 } + r.extra.map { "extra " + $0 }).joined(separator: ", ")
            print(pad(r.snippet.replacingOccurrences(of: "snippets/", with: ""), 28) + pad(r.tool, 9)
                  + String(format: "%5d %5d %5d %3d/%-3d %3d/%-3d ", r.real, r.ours, r.matched, r.bandAgreed, r.bandCompared, r.columnAgreed, r.columnCompared) + diff)
        }
        for t in f.totals {
            print(String(format: "%@: recall %.2f (%d/%d)  precision %.2f (%d/%d)  priority band %.2f  column %.2f", t.tool, t.recall, t.matched, t.real,
                         t.precision, t.matched, t.ours, t.bandAgreement, t.columnAgreement))
        }
        print("targets: recall >= 0.95, precision 1.0, priority band and column agreement >= 0.95")
    }
}
