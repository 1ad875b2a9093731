import ArgumentParser
import Checks
import CommandLineOptions
import ElixirCoderCore
import Foundation
import Glibc

/// `elixir-coder-bench reliability`: malformed input, cancellation, generated code and output
/// files, tried against the real binaries; prints what was tried and what held.
struct BenchReliabilityCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reliability",
        abstract: "Try malformed JSON-RPC input, cancellation, sandbox escapes and clobbered files against the real binaries; print what held.",
        discussion: "Targets: 0 crashes, 0 frames lost after a bad frame, every escape blocked, 0 files lost, cancel to an idle CPU under 100 ms."
    )

    @Flag(help: "Print the report as JSON.") var json = false
    @Flag(help: "Skip the cancellation timing (it loads the model and starts a generation).") var noCancel = false

    /// One kind of input and how many of its cases got the right answer.
    struct Kind: Encodable {
        let name: String
        var tried = 0
        var right = 0
        var wrong: [String] = []
    }

    struct Report: Encodable {
        var kinds: [Kind] = []
        var crashes = 0
        var framesLost = 0
        var cancelToAnswerMs: Double?
        var cancelToIdleMs: Double?
        var escapesTried = 0
        var escapesBlocked = 0
        var escapesLeaked: [String] = []
        var filesTried = 0
        var filesLost = 0
        var cpu = ""
    }

    func run() async throws {
        var report = Report()
        report.cpu = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?.split(separator: "\n")
            .first { $0.hasPrefix("model name") }.map { String($0.split(separator: ":")[1]).trimmingCharacters(in: .whitespaces) } ?? "unknown"
        try serverBattery(&report)
        if !noCancel { try cancellation(&report) }
        try await sandbox(&report)
        try files(&report)
        if json { return try printJSON(report) }
        print("elixir-coder-bench reliability (\(report.cpu))")
        for k in report.kinds {
            print(String(format: "  %-10@ %3d tried, %3d right", k.name as NSString, k.tried, k.right) + (k.wrong.isEmpty ? "" : "; wrong: " + k.wrong.prefix(5).joined(separator: "; ")))
        }
        print("  crashes: \(report.crashes) (target 0); frames lost after a bad frame: \(report.framesLost) (target 0)")
        if let a = report.cancelToAnswerMs, let i = report.cancelToIdleMs {
            print(String(format: "  cancel: answered in %.0f ms, CPU idle after %.0f ms (target < 100 ms)", a, i))
        }
        print("  sandbox escapes: \(report.escapesBlocked) of \(report.escapesTried) blocked" + (report.escapesLeaked.isEmpty ? "" : " (leaked: \(report.escapesLeaked.joined(separator: ", ")))"))
        print("  files: \(report.filesLost) of \(report.filesTried) lost (target 0)")
    }

    // MARK: serve --stdio

    /// Malformed frames, bodies, ids and parameters against one server; every bad message must
    /// get its error and cost no later message.
    func serverBattery(_ report: inout Report) throws {
        let server = try StdioServer()
        defer { server.stop() }
        var nextID = 1000
        func healthAnswered() -> Bool {
            nextID += 1
            let id = nextID
            server.send(body: #"{"jsonrpc":"2.0","id":\#(id),"method":"health"}"#)
            return server.waitFor(id: id, seconds: 10) != nil
        }

        var framing = Kind(name: "framing")
        let health = #"{"jsonrpc":"2.0","id":1,"method":"health"}"#
        let frames: [(String, Data)] = [
            ("no Content-Length", Data("Content-Type: text/plain\r\n\r\n\(health)".utf8)),
            ("length in characters, not bytes", Data("Content-Length: \(#"{"jsonrpc":"2.0","id":2,"method":"check","params":{"code":"é"}}"#.count)\r\n\r\n".utf8)
                + Data(#"{"jsonrpc":"2.0","id":2,"method":"check","params":{"code":"é"}}"#.utf8)),
            ("length not a number", Data("Content-Length: ten\r\n\r\n\(health)".utf8)),
            ("length of a terabyte", Data("Content-Length: 1000000000000\r\n\r\n\(health)".utf8)),
            ("header without a body", Data("Content-Length: 40\r\n\r\n".utf8)),
        ]
        for (name, bytes) in frames {
            framing.tried += 1
            server.sendRaw(bytes)
            if healthAnswered() { framing.right += 1 } else { framing.wrong.append(name); report.framesLost += 1 }
        }
        report.kinds.append(framing)

        var bodies = Kind(name: "json")
        // Answers to the bad frames above (each gets its own error) must not count for these.
        server.clear(after: 0.5)
        for body in ["{", "[]", "42", #""x""#, #"{"jsonrpc":"2.0","id":5}"#, #"{"jsonrpc":"1.0","id":6,"method":"health"}"#, "\u{0}", #"{"jsonrpc":"2.0","id":7,"method":3}"#] {
            bodies.tried += 1
            server.clear(after: 0)
            server.send(body: body)
            let code = server.nextError(seconds: 10)
            if code == -32700 || code == -32600 { bodies.right += 1 } else { bodies.wrong.append("\(body.prefix(20)) -> \(code.map(String.init) ?? "nothing")") }
        }
        report.kinds.append(bodies)

        var ids = Kind(name: "ids")
        for id in ["{}", "[]", "true", "2.5"] {
            ids.tried += 1
            server.clear(after: 0)
            server.send(body: #"{"jsonrpc":"2.0","id":\#(id),"method":"health"}"#)
            if server.nextError(seconds: 10) == -32600 { ids.right += 1 } else { ids.wrong.append("id \(id)") }
        }
        ids.tried += 1
        server.send(body: #"{"jsonrpc":"2.0","id":9007199254740993,"method":"health"}"#)
        if server.waitForRaw(containing: #""id":9007199254740993"#, seconds: 10) { ids.right += 1 } else { ids.wrong.append("id 2^53+1 altered") }
        report.kinds.append(ids)

        // Each parameter with values of the wrong type or range; the rest of the request is valid.
        var params = Kind(name: "params")
        let bad = ["1e19", "-5", #""x""#, "[]", "{}", "true", "null", "2.5"]
        let cases: [(method: String, base: String, names: [String])] = [
            ("check", "", ["code"]),
            ("explain", #""code":"x = 1","#, ["line", "check", "model"]),
            ("audit/recent", "", ["limit"]),
            ("generate", #""task":"Return 1.","#, ["candidates", "maxAttempts", "maxTokens", "seed", "temperature", "tests", "runExamples", "earlyStop", "gate", "stream", "context"]),
            ("clarify", #""task":"Return 1.","#, ["samples"]),
            ("answerClarification", #""answer":"1","#, ["id"]),
        ]
        for c in cases {
            for name in c.names {
                for value in bad {
                    // A string is the right type for these; a number, list or object is not.
                    if value == #""x""#, ["code", "check", "tests", "context", "id"].contains(name) { continue }
                    if value == "true", ["runExamples", "earlyStop", "gate", "stream", "model"].contains(name) { continue }
                    params.tried += 1
                    nextID += 1
                    server.send(body: #"{"jsonrpc":"2.0","id":\#(nextID),"method":"\#(c.method)","params":{\#(c.base)"\#(name)":\#(value)}}"#)
                    let answer = server.waitFor(id: nextID, seconds: 120)
                    let code = ((answer?["error"] as? [String: Any])?["code"] as? Int)
                    if code == -32602 { params.right += 1 } else { params.wrong.append("\(c.method) \(name)=\(value) -> \(code.map(String.init) ?? (answer == nil ? "nothing" : "a result"))") }
                }
            }
        }
        report.kinds.append(params)

        if !server.alive || !healthAnswered() { report.crashes += 1 }
    }

    /// Time from `$/cancelRequest` to the -32800 answer and to an idle server CPU.
    func cancellation(_ report: inout Report) throws {
        let server = try StdioServer()
        defer { server.stop() }
        server.send(body: #"{"jsonrpc":"2.0","id":1,"method":"generate","params":{"task":"Write a module `Shapes` with functions area(shape) and perimeter(shape) for circles, squares and triangles given as tagged tuples.","candidates":8,"maxAttempts":3,"maxTokens":256}}"#)
        // Let it load the model and get well into sampling; the server must be busy when cancelled.
        Thread.sleep(forTimeInterval: 3.5)
        let busy = server.cpuTicks()
        Thread.sleep(forTimeInterval: 0.5)
        guard server.cpuTicks() > busy + 20 else {
            Stderr.print("reliability: the server was not busy generating when it was to be cancelled; no cancellation figures")
            return
        }
        let cancelled = Date()
        server.send(body: #"{"jsonrpc":"2.0","method":"$/cancelRequest","params":{"id":1}}"#)
        let answer = server.waitFor(id: 1, seconds: 30)
        guard (answer?["error"] as? [String: Any])?["code"] as? Int == -32800 else {
            Stderr.print("reliability: the generation ended before the cancellation took effect; no cancellation figures")
            return
        }
        report.cancelToAnswerMs = Date().timeIntervalSince(cancelled) * 1000
        // Idle: the server's CPU time stops growing (checked every 10 ms, idle for 50 ms).
        var last = server.cpuTicks(), still = Date(), idleSince: Date?
        while Date().timeIntervalSince(cancelled) < 30 {
            Thread.sleep(forTimeInterval: 0.01)
            let now = server.cpuTicks()
            if now != last { last = now; still = Date(); idleSince = nil; continue }
            if idleSince == nil { idleSince = still }
            if Date().timeIntervalSince(still) >= 0.05 { break }
        }
        if let idleSince { report.cancelToIdleMs = max(0, idleSince.timeIntervalSince(cancelled) * 1000) }
    }

    // MARK: the sandbox

    /// Module bodies that try to get out, each checked from the outside after the compile.
    func sandbox(_ report: inout Report) async throws {
        let worker = try CompileWorker()
        let marker = "ec-escape-\(UUID().uuidString)"
        let outside = FileManager.default.temporaryDirectory.appendingPathComponent(marker).path
        let home = NSHomeDirectory() + "/" + marker
        let listener = try Listener()
        defer { listener.close() }
        let attempts: [(String, String, () -> Bool)] = [
            ("write to the real /tmp", "File.write!(\"\(outside)\", \"x\")", { !FileManager.default.fileExists(atPath: outside) }),
            ("write to the home folder", "File.write!(\"\(home)\", \"x\")", { !FileManager.default.fileExists(atPath: home) }),
            ("connect to a local port", ":gen_tcp.connect({127, 0, 0, 1}, \(listener.port), [], 1000)", { !listener.connected }),
            ("leave an OS process running", "System.cmd(\"sh\", [\"-c\", \"sleep 60 & echo\"])", { !Self.processRunning("sleep 60") }),
            ("detach a child that holds the output", "Port.open({:spawn, \"sh -c 'sleep 61 >&2 &'\"}, [])", { !Self.processRunning("sleep 61") }),
            ("exhaust memory", "Enum.reduce(1..100_000_000, [], fn i, acc -> [i | acc] end)", { true }),
            ("fork bomb in Erlang processes", "Enum.each(1..2_000_000, fn _ -> spawn(fn -> Process.sleep(:infinity) end) end)", { true }),
            ("stop the worker", "System.halt(0)", { true }),
        ]
        for (name, body, stayedIn) in attempts {
            report.escapesTried += 1
            _ = try? await worker.compile("defmodule Escape do\n  \(body)\n  def f, do: 1\nend\n")
            // The worker must still answer, and nothing may show outside.
            let next = try? await worker.compile("defmodule Next do\n  def f, do: 1\nend\n")
            if stayedIn() && next?.compiled == true { report.escapesBlocked += 1 } else { report.escapesLeaked.append(name) }
        }
        try? FileManager.default.removeItem(atPath: outside)
        try? FileManager.default.removeItem(atPath: home)
    }

    static func processRunning(_ command: String) -> Bool {
        let dirs = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return dirs.contains { pid in
            guard Int(pid) != nil, let cmd = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
            return String(decoding: cmd.map { $0 == 0 ? 32 : $0 }, as: UTF8.self).contains(command)
        }
    }

    // MARK: files

    /// `batch -o` pointed at files that are not its results: each must come out unchanged.
    func files(_ report: inout Report) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ec-files-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = dir.appendingPathComponent("tasks.jsonl"), notes = dir.appendingPathComponent("notes.md")
        try Data(#"{"id":"a","task":"Return 1."}"#.utf8).write(to: input)
        try Data(String(repeating: "# Notes\nKeep me.\n", count: 4000).utf8).write(to: notes)
        for target in [input, notes] {
            report.filesTried += 1
            let before = try Data(contentsOf: target)
            let p = Process()
            p.executableURL = StdioServer.productBinary
            p.arguments = ["batch", input.path, "-o", target.path, "--max-attempts", "1"]
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            try p.run()
            p.waitUntilExit()
            if (try? Data(contentsOf: target)) != before { report.filesLost += 1 }
        }
    }
}

/// A loopback listener that notes whether anything connected.
final class Listener: @unchecked Sendable {
    let fd: Int32
    let port: Int

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.fd = fd
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        listen(fd, 4)
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        port = Int(UInt16(bigEndian: addr.sin_port))
        // Non-blocking, so `connected` can ask without waiting.
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
    }

    var connected: Bool {
        let c = accept(fd, nil, nil)
        if c >= 0 { Glibc.close(c) }
        return c >= 0
    }

    func close() { Glibc.close(fd) }
}
