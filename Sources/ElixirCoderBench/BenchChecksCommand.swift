import ArgumentParser
import CommandLineOptions
import Checks
import ElixirCoderCore
import Foundation

/// `elixir-coder bench checks`: warm-checker latency per check, cold-process latency, concurrent throughput.
struct BenchChecksCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "checks", abstract: "Checker latency (warm and cold) and throughput with 10 concurrent requests.")

    @Option(help: "Requests per figure.") var requests = 50
    @Flag(help: "Print JSON.") var json = false

    /// A 100-line module exercising many rules.
    static func sample() -> String {
        var lines = ["defmodule Bench.Sample do", "  @moduledoc \"A generated module for timing.\"", ""]
        var n = 0
        while lines.count < 97 {
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
        if json { return try printJSON(figures) }
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
        print("targets: syntax < 5 ms median, full built-in rules < 30 ms median, compile < 50 ms median")
    }
}
