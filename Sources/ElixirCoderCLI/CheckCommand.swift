import ArgumentParser
import Checks
import ElixirCoderCore
import Foundation

/// `elixir-coder check`: the parser, formatter and built-in Credo/Sobelow rules on a file.
struct CheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Check Elixir code: syntax, formatting, Credo and Sobelow rules (built in; real tools via ELIXIR_CODER_MIX_PROJECT).",
        discussion: "Prints findings like a compiler (file:line:column: severity check message). Exit status: 0 clean, 1 findings, 2 error. Config files (.exs under config/) also get the hard-coded secrets rule."
    )

    @Argument(help: "The file to check, or - (the default) for standard input.") var file: String?
    @Option(help: "Comma-separated sources to report: syntax, format, credo, sobelow.") var only: String?
    @Flag(help: "Print the findings as a JSON array.") var json = false

    func run() async throws {
        let sources: Set<FindingSource>?
        if let only {
            var s: Set<FindingSource> = []
            for name in only.split(separator: ",") {
                guard let src = FindingSource(rawValue: name.trimmingCharacters(in: .whitespaces)) else {
                    Stderr.print("error: unknown source '\(name)' in --only (use syntax, format, credo, sobelow)")
                    throw ExitCode(2)
                }
                s.insert(src)
            }
            sources = s
        } else {
            sources = nil
        }
        let name = file ?? "-"
        let code: String
        if name == "-" {
            code = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
        } else {
            guard let data = FileManager.default.contents(atPath: name) else {
                Stderr.print("error: cannot read \(name)")
                throw ExitCode(2)
            }
            code = String(decoding: data, as: UTF8.self)
        }
        let kind: SourceKind = name.hasSuffix(".exs") && name.contains("config") ? .config : .code
        var findings: [Finding]
        do {
            let pool = try CheckerPool(size: 1)
            findings = try await pool.findings(in: code, only: sources, kind: kind)
            if let real = MixToolChecker(), findings.allSatisfy({ $0.source != .syntax }) {
                // The real tools replace the built-in rules for the sources they cover.
                let tools = try await real.findings(in: code)
                findings = findings.filter { !$0.builtin } + tools.filter { sources?.contains($0.source) ?? true }
            }
        } catch let e as CheckerError {
            Stderr.print("error: \(e.message)")
            throw ExitCode(2)
        }
        if json {
            try printJSON(findings)
        } else {
            for f in findings {
                let origin = f.builtin ? " (built-in)" : ""
                print("\(name == "-" ? "stdin" : name):\(f.line):\(f.column ?? 1): \(f.severity) \(f.check)\(origin): \(f.message)")
            }
            Stderr.print(findings.isEmpty ? "no findings" : "\(findings.count) finding(s)")
        }
        if !findings.isEmpty { throw ExitCode(1) }
    }
}

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
