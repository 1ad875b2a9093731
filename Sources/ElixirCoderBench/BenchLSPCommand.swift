import ArgumentParser
import Foundation

/// `elixir-coder-bench lsp`: the language server as an editor sees it, over the real binary's
/// stdio: keystroke-to-diagnostics latency on a 300-line file, and memory with 50 open documents.
struct BenchLSPCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lsp",
        abstract: "Language server: diagnostics latency after an edit on a 298-line file (p50/p95, with and without the compiler) and memory with 50 open documents."
    )

    @Option(help: "Edits timed per figure.") var edits = 40
    @Option(help: "Documents held open for the memory figure.") var documents = 50
    @Flag(help: "Print JSON.") var json = false

    /// A 298-line module with a few findings (String.to_atom) among plain functions.
    static func sample(_ seed: Int) -> String {
        var lines = ["defmodule Bench.Doc\(seed) do", "  @moduledoc \"A generated module for timing.\"", ""]
        var n = 0
        while lines.count < 293 {
            lines += ["  @doc \"Function \(n).\"", "  def f\(n)(list, x) do", "    list", "    |> Enum.map(&(&1 * x))",
                      n % 10 == 0 ? "    |> Enum.map(&String.to_atom(\"#{&1}\"))" : "    |> Enum.filter(&(&1 > \(n)))", "  end", ""]
            n += 1
        }
        lines.append("end")
        return lines.joined(separator: "\n") + "\n"
    }

    /// Starts a server and initializes it.
    static func server(compile: Bool) throws -> StdioServer {
        let s = try StdioServer()
        s.send(["jsonrpc": "2.0", "id": 1, "method": "initialize",
                "params": ["capabilities": [:] as [String: Any], "initializationOptions": ["compile": compile]]])
        guard s.waitFor(id: 1, seconds: 30) != nil else { throw ValidationError("the server did not answer initialize") }
        s.send(["jsonrpc": "2.0", "method": "initialized", "params": [:] as [String: Any]])
        return s
    }

    static func uri(_ n: Int) -> String { "file:///bench/doc\(n).ex" }

    static func open(_ s: StdioServer, _ n: Int) {
        s.send(["jsonrpc": "2.0", "method": "textDocument/didOpen",
                "params": ["textDocument": ["uri": uri(n), "languageId": "elixir", "version": 1, "text": sample(n)]]])
    }

    /// Waits for the diagnostics of document `n` at `version` (keys are sorted on the wire).
    static func published(_ s: StdioServer, _ n: Int, version: Int, seconds: Double = 60) -> Bool {
        s.waitForRaw(containing: "\"uri\":\"\(uri(n))\",\"version\":\(version)}", seconds: seconds)
    }

    /// Milliseconds from sending each edit to its diagnostics: one character typed on a line in the middle.
    func latencies(_ s: StdioServer) throws -> [Double] {
        Self.open(s, 0)
        guard Self.published(s, 0, version: 1) else { throw ValidationError("no diagnostics for the opened document") }
        var times: [Double] = []
        for i in 0..<edits {
            let version = i + 2
            // Alternately inserts a comment line before line 151 and removes it: a real edit each time.
            let change: [String: Any] = i % 2 == 0
                ? ["range": ["start": ["line": 150, "character": 0], "end": ["line": 150, "character": 0]], "text": "    # edit \(i)\n"]
                : ["range": ["start": ["line": 150, "character": 0], "end": ["line": 151, "character": 0]], "text": ""]
            let t = Date()
            s.send(["jsonrpc": "2.0", "method": "textDocument/didChange",
                    "params": ["textDocument": ["uri": Self.uri(0), "version": version], "contentChanges": [change]]])
            guard Self.published(s, 0, version: version) else { throw ValidationError("no diagnostics for edit \(i)") }
            times.append(Date().timeIntervalSince(t) * 1000)
        }
        return times
    }

    static func rssMiB(_ pid: Int32) -> Double {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
              let kb = Double(line.split(separator: " ").dropFirst().first ?? "") else { return 0 }
        return kb / 1024
    }

    func run() async throws {
        func pct(_ xs: [Double], _ p: Double) -> Double { xs.sorted()[min(xs.count - 1, Int(Double(xs.count) * p))] }
        var figures: [String: Double] = [:]
        for compile in [true, false] {
            let s = try Self.server(compile: compile)
            let times = try latencies(s)
            let name = compile ? "checks_and_compiler" : "checks_only"
            figures["\(name)_p50_ms"] = pct(times, 0.5)
            figures["\(name)_p95_ms"] = pct(times, 0.95)
            if compile {
                figures["rss_1_document_mib"] = Self.rssMiB(s.pid)
                for n in 1..<documents { Self.open(s, n) }
                for n in 1..<documents where !Self.published(s, n, version: 1, seconds: 120) {
                    throw ValidationError("no diagnostics for document \(n)")
                }
                figures["rss_\(documents)_documents_mib"] = Self.rssMiB(s.pid)
            }
            s.stop()
        }
        if json {
            let data = try JSONSerialization.data(withJSONObject: figures, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else {
            print("diagnostics after an edit, 298-line file, \(edits) edits (keystroke to publishDiagnostics over stdio, 50 ms debounce included):")
            print(String(format: "  checks + compiler: p50 %.0f ms, p95 %.0f ms", figures["checks_and_compiler_p50_ms"]!, figures["checks_and_compiler_p95_ms"]!))
            print(String(format: "  checks only:       p50 %.0f ms, p95 %.0f ms", figures["checks_only_p50_ms"]!, figures["checks_only_p95_ms"]!))
            print(String(format: "server memory (RSS): %.1f MiB with 1 document, %.1f MiB with %d", figures["rss_1_document_mib"]!, figures["rss_\(documents)_documents_mib"]!, documents))
        }
    }
}
