import Foundation

/// Runs ExUnit tests against a candidate, when the caller supplied tests (or asked for the task's
/// examples to be run).
///
/// Each run is a fresh `elixir` process inside the sandbox the compile worker uses (`Sandbox`:
/// new user, network and PID namespaces, the file system read-only, the run's files visible
/// read-only, a private /tmp, a memory cap), killed after `timeout`. Killing the sandbox ends
/// every process in it, so nothing the tests start outlives the run or holds its output open.
/// Without a sandbox nothing is run.
public struct TestRunner: Sendable {
    public var timeout: Double = 20
    public var elixir = "elixir"
    public var sandbox: Sandbox? = Sandbox.available

    public init() {}

    /// The outcome of one run.
    public struct Outcome: Sendable, Codable, Equatable {
        public var tests: Int
        public var failures: [Failure]
        /// The run itself failed (the candidate did not compile, a timeout), before any test could count.
        public var error: String?
        public var networkIsolated: Bool
        public var seconds: Double
        public var passed: Bool { error == nil && failures.isEmpty && tests > 0 }
    }

    /// One failing test.
    public struct Failure: Sendable, Codable, Equatable {
        public var test: String
        public var line: Int?
        public var message: String
    }

    /// Compiles `code`, then runs the ExUnit module(s) in `tests` against it.
    public func run(code: String, tests: String) throws -> Outcome {
        let start = Date()
        // A formatter of our own prints one line per result, so nothing depends on ExUnit's wording.
        let script = """
            defmodule ECTestFormatter do
              use GenServer
              def init(_), do: {:ok, nil}
              def handle_cast({:test_finished, %ExUnit.Test{state: nil} = t}, s), do: (IO.puts("EC_PASS\\t#{t.name}"); {:noreply, s})
              def handle_cast({:test_finished, %ExUnit.Test{state: {:failed, failures}} = t}, s) do
                msg = failures |> Enum.map(fn {kind, reason, stack} -> Exception.format_banner(kind, reason, stack) end) |> Enum.join(" ") |> String.replace(~r/\\s+/, " ")
                IO.puts("EC_FAIL\\t#{t.name}\\t#{t.tags[:line]}\\t#{String.slice(msg, 0, 300)}")
                {:noreply, s}
              end
              def handle_cast(_, s), do: {:noreply, s}
            end
            try do
              Code.compile_file("candidate.ex")
            rescue
              e -> IO.puts("EC_COMPILE\\t" <> String.replace(Exception.message(e), ~r/\\s+/, " ")); System.halt(3)
            end
            ExUnit.start(autorun: false, formatters: [ECTestFormatter], seed: 0)
            Code.require_file("candidate_test.exs")
            ExUnit.run()
            """
        let text = try execute(code: code, extraFiles: ["candidate_test.exs": tests], script: script)
        var outcome = Outcome(tests: 0, failures: [], error: nil, networkIsolated: sandbox != nil, seconds: Date().timeIntervalSince(start))
        guard let text else {
            outcome.error = "the tests did not finish within \(Int(timeout)) s"
            return outcome
        }
        for line in text.split(separator: "\n") {
            let f = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            switch f.first {
            case "EC_PASS": outcome.tests += 1
            case "EC_FAIL" where f.count >= 4:
                outcome.tests += 1
                outcome.failures.append(Failure(test: f[1], line: Int(f[2]), message: f[3]))
            case "EC_COMPILE": outcome.error = "the candidate does not compile: " + f.dropFirst().joined(separator: " ")
            default: break
            }
        }
        if outcome.error == nil && outcome.tests == 0 {
            outcome.error = "no test ran: " + String(text.suffix(300)).replacingOccurrences(of: "\n", with: " ")
        }
        return outcome
    }

    /// Evaluates each expression against `code` in one isolated, time-limited process; returns what
    /// each gave (`inspect` of the value, `raise <Exception>`, or nil when the run failed as a whole).
    public func evaluate(code: String, expressions: [String]) throws -> [String]? {
        let body = expressions.enumerated().map { i, e in
            "try do\n  IO.puts(\"EC_VALUE\\t\(i)\\t\" <> inspect((\(e)), limit: 50))\nrescue\n  x -> IO.puts(\"EC_VALUE\\t\(i)\\traise \" <> inspect(x.__struct__))\ncatch\n  k, _ -> IO.puts(\"EC_VALUE\\t\(i)\\t\" <> inspect(k))\nend"
        }.joined(separator: "\n")
        let text = try execute(code: code, extraFiles: [:], script: "try do\n  Code.compile_file(\"candidate.ex\")\nrescue\n  _ -> System.halt(3)\nend\n" + body + "\n")
        guard let text else { return nil }
        var values = [String?](repeating: nil, count: expressions.count)
        for line in text.split(separator: "\n") {
            let f = line.split(separator: "\t", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
            if f.count == 3, f[0] == "EC_VALUE", let i = Int(f[1]), values.indices.contains(i) { values[i] = f[2] }
        }
        return values.contains(nil) ? nil : values.map { $0! }
    }

    /// Runs `script` beside `candidate.ex` in a fresh sandbox; nil on timeout.
    func execute(code: String, extraFiles: [String: String], script: String) throws -> String? {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ec-run-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try code.write(to: dir.appendingPathComponent("candidate.ex"), atomically: true, encoding: .utf8)
        for (name, text) in extraFiles { try text.write(to: dir.appendingPathComponent(name), atomically: true, encoding: .utf8) }
        try script.write(to: dir.appendingPathComponent("run.exs"), atomically: true, encoding: .utf8)
        guard let sandbox else {
            throw CheckerError(.unavailable, "no sandbox to run generated code in: install bubblewrap (apt-get install bubblewrap, or make setup)")
        }
        let launcher = sandbox.launcher(readable: [dir.path], workingDirectory: dir.path)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: launcher[0])
        p.arguments = Array(launcher.dropFirst()) + [elixir, "run.exs"]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        try p.run()
        let killer = DispatchWorkItem { if p.isRunning { kill(p.processIdentifier, SIGKILL) } }
        DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: killer)
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        killer.cancel()
        return p.terminationReason == .uncaughtSignal ? nil : String(decoding: data, as: UTF8.self)
    }
}
