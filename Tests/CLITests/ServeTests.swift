import Foundation
import Testing

/// A running `elixir-coder serve --stdio` and a framed client for it.
final class StdioClient: @unchecked Sendable {
    let process = Process()
    private let input = Pipe(), output = Pipe()
    private var buffer = Data()
    private let lock = NSLock()

    init(_ extra: [String] = [], home: URL = CLI.sharedHome, environment: [String: String] = [:]) throws {
        process.executableURL = URL(fileURLWithPath: CLI.binary)
        process.arguments = ["serve", "--stdio"] + extra
        var env = ProcessInfo.processInfo.environment
        env["ELIXIR_CODER_HOME"] = home.path
        for (k, v) in environment { env[k] = v }
        process.environment = env
        process.standardInput = input
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
    }

    /// Bytes as they are, no framing added.
    func sendBytes(_ bytes: Data) {
        input.fileHandleForWriting.write(bytes)
    }

    func sendRaw(_ body: Data) {
        input.fileHandleForWriting.write(Data("Content-Length: \(body.count)\r\n\r\n".utf8) + body)
    }

    func send(_ object: [String: Any]) throws {
        sendRaw(try JSONSerialization.data(withJSONObject: object))
    }

    /// The next frame's body (blocking).
    func readFrame() -> Data {
        lock.lock()
        defer { lock.unlock() }
        while true {
            if let sep = buffer.range(of: Data("\r\n\r\n".utf8)) {
                let header = String(decoding: buffer[buffer.startIndex..<sep.lowerBound], as: UTF8.self)
                let n = Int(header.split(separator: ":")[1].trimmingCharacters(in: .whitespaces))!
                if buffer.count - (sep.upperBound - buffer.startIndex) >= n {
                    let body = buffer[sep.upperBound..<(sep.upperBound + n)]
                    buffer = Data(buffer[(sep.upperBound + n)...])
                    return Data(body)
                }
            }
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { return Data() }
            buffer += chunk
        }
    }

    func read() throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: readFrame()) as! [String: Any]
    }

    /// Reads until the response with `id`, collecting notifications on the way.
    func response(id: Int, notifications: inout [[String: Any]]) throws -> [String: Any] {
        while true {
            let m = try read()
            if let mid = m["id"] as? Int, mid == id, m["method"] == nil { return m }
            notifications.append(m)
        }
    }

    /// `shutdown` (request `id`), then `exit`; the server's exit status.
    func shutdown(id: Int) throws -> Int32 {
        try send(["jsonrpc": "2.0", "id": id, "method": "shutdown"])
        var notes: [[String: Any]] = []
        _ = try response(id: id, notifications: &notes)
        try send(["jsonrpc": "2.0", "method": "exit"])
        return try finish()
    }

    /// The client stops reading: its end of the server's output closes.
    func closeOutput() throws {
        try output.fileHandleForReading.close()
    }

    func finish() throws -> Int32 {
        try input.fileHandleForWriting.close()
        process.waitUntilExit()
        return process.terminationStatus
    }
}

@Suite("serve --stdio", .serialized)
struct ServeTests {
    @Test("the transcript in docs/protocol.md replays exactly")
    func readmeTranscript() throws {
        let readme = try String(contentsOf: CLI.repo.appendingPathComponent("docs/protocol.md"), encoding: .utf8)
        let block = try #require(readme.components(separatedBy: "```jsonrpc\n").dropFirst().first?.components(separatedBy: "\n```").first)
        let lines = block.split(separator: "\n").map(String.init)
        #expect(lines.filter { $0.hasPrefix("-->") }.count >= 8)
        let client = try StdioClient()
        for line in lines {
            if line.hasPrefix("--> ") {
                client.sendRaw(Data(line.dropFirst(4).utf8))
            } else if line.hasPrefix("<-- ") {
                let expected = try JSONSerialization.jsonObject(with: Data(line.dropFirst(4).utf8)) as! NSDictionary
                let got = try JSONSerialization.jsonObject(with: client.readFrame()) as! NSDictionary
                #expect(got == expected, "expected \(line)")
            }
        }
        #expect(try client.finish() == 0, "shutdown then exit ends with status 0")
    }

    @Test("a client that stops reading (its end of stdout closed) ends the server with an exit status, not a SIGPIPE")
    func clientGone() throws {
        let client = try StdioClient()
        try client.send(["jsonrpc": "2.0", "id": 1, "method": "health"])
        _ = try client.read()
        try client.closeOutput()
        // The answer to this one has nowhere to go; the failed write ends the session. (Nothing
        // more is sent: the server's stdin may be closed by then.)
        try client.send(["jsonrpc": "2.0", "id": 2, "method": "health"])
        let deadline = Date().addingTimeInterval(15)
        while client.process.isRunning && Date() < deadline { usleep(50_000) }
        #expect(!client.process.isRunning, "the server still runs after its client went away")
        #expect(client.process.terminationReason == .exit, "ended by a signal: \(client.process.terminationStatus)")
    }

    @Test("after bad frames (wrong lengths, no header, an oversized length) every later message is answered")
    func badFrames() throws {
        let client = try StdioClient(["--max-frame-mib", "1"])
        let health = { (id: Int) in Data(#"{"jsonrpc":"2.0","id":\#(id),"method":"health"}"#.utf8) }
        let accented = Data(#"{"jsonrpc":"2.0","id":1,"method":"health","params":{"note":"é"}}"#.utf8)
        var bytes = Data("Content-Length: \(accented.count - 1)\r\n\r\n".utf8) + accented   // counted characters
        bytes += Data("Content-Length: 12\r\n\r\nnot a length".utf8)                        // not JSON
        bytes += Data("X-Nothing: here\r\n\r\n{}".utf8)                                       // no length at all
        bytes += Data("Content-Length: 9999999999\r\n\r\n".utf8)                              // over --max-frame-mib
        client.sendBytes(bytes)
        for id in 2...4 { client.sendRaw(health(id)) }
        // Requests run concurrently, so the answers may come in any order.
        var notes: [[String: Any]] = []
        var answered: Set<Int> = []
        while answered.count < 3 {
            let m = try client.read()
            if let id = m["id"] as? Int, m["result"] != nil { answered.insert(id) } else { notes.append(m) }
        }
        #expect(answered == [2, 3, 4])
        let errors = notes.compactMap { ($0["error"] as? [String: Any])?["code"] as? Int }
        #expect(errors.filter { $0 == -32700 }.count >= 3, "each bad frame is answered with a parse error: \(notes)")
        #expect(notes.contains { (($0["error"] as? [String: Any])?["message"] as? String)?.contains("over the limit") == true })
        #expect(try client.shutdown(id: 11) == 0)
    }

    @Test("numbers past the 64-bit range and contexts past the model's are invalid parameters, and the server keeps serving")
    func hugeIntegers() throws {
        let client = try StdioClient()
        for (id, (method, params)) in [("audit/recent", ["limit": 1e19]), ("generate", ["task": "Add two numbers.", "seed": 1e19]),
                                       ("generate", ["task": "Add two numbers.", "maxTokens": -1e300])].enumerated() {
            try client.send(["jsonrpc": "2.0", "id": id + 1, "method": method, "params": params])
            var notes: [[String: Any]] = []
            let r = try client.response(id: id + 1, notifications: &notes)
            #expect((r["error"] as? [String: Any])?["code"] as? Int == -32602, "\(method): \(r)")
        }
        // A context larger than the model's: refused as an invalid parameter, with the reason.
        let filler = String(repeating: "defmodule Filler do\n  def f(x), do: x + 1\nend\n", count: 900)
        try client.send(["jsonrpc": "2.0", "id": 5, "method": "generate", "params": ["task": "Add a function g.", "context": filler]])
        var long: [[String: Any]] = []
        let refused = (try client.response(id: 5, notifications: &long)["error"] as? [String: Any])
        #expect(refused?["code"] as? Int == -32602 && (refused?["message"] as? String)?.contains("tokens") == true, "\(String(describing: refused))")
        try client.send(["jsonrpc": "2.0", "id": 10, "method": "health"])
        var notes: [[String: Any]] = []
        #expect(try client.response(id: 10, notifications: &notes)["result"] != nil)
        #expect(try client.shutdown(id: 11) == 0)
    }

    @Test("audit/summary, audit/recent, models/registry and health answer live, and a shadow comparison shows up")
    func auditMethods() throws {
        let home = try CLI.temporaryHome()
        defer { try? FileManager.default.removeItem(at: home) }
        // The shadow is the same model file under another name, so it runs and agrees.
        let shadow = home.appendingPathComponent("shadow.gguf")
        try FileManager.default.createSymbolicLink(atPath: shadow.path, withDestinationPath: home.appendingPathComponent("models/SmolLM2-135M-Instruct.Q4_1.gguf").path)
        let client = try StdioClient(["--shadow-model", shadow.path], home: home)
        var notes: [[String: Any]] = []
        try client.send(["jsonrpc": "2.0", "id": 1, "method": "health"])
        let cold = try client.response(id: 1, notifications: &notes)["result"] as! [String: Any]
        #expect(cold["modelLoaded"] as? Bool == false)
        #expect(cold["engine"] is NSNull, "no engine figures before the model loads")
        #expect(cold["checker"] as? String == "ok")
        try client.send(["jsonrpc": "2.0", "id": 2, "method": "generate", "params": ["task": "Return the last element of a list.", "candidates": 2, "maxAttempts": 1, "maxTokens": 32]])
        let generated = try client.response(id: 2, notifications: &notes)["result"] as! [String: Any]
        try client.send(["jsonrpc": "2.0", "id": 3, "method": "models/registry"])
        let registry = try client.response(id: 3, notifications: &notes)["result"] as! [String: Any]
        #expect(registry["shadowEnabled"] as? Bool == true)
        #expect((registry["activeVersion"] as? String)?.hasPrefix("SmolLM2-135M-Instruct.Q4_1.gguf@") == true)
        // The shadow runs after the answer; poll until its comparison is in.
        var recent: [[String: Any]] = []
        for i in 0..<120 {
            try client.send(["jsonrpc": "2.0", "id": 10 + i, "method": "audit/recent", "params": ["limit": 5]])
            recent = try client.response(id: 10 + i, notifications: &notes)["result"] as! [[String: Any]]
            if recent.first?["shadow"] != nil { break }
            Thread.sleep(forTimeInterval: 0.5)
        }
        #expect(recent.count == 1)
        #expect(recent.first?["requestID"] as? String == generated["requestID"] as? String)
        #expect((recent.first?["shadow"] as? [String: Any])?["status"] as? String == "success")
        try client.send(["jsonrpc": "2.0", "id": 200, "method": "audit/summary"])
        let summary = try client.response(id: 200, notifications: &notes)["result"] as! [String: Any]
        #expect(summary["count"] as? Int == 1)
        #expect((summary["shadow"] as? [String: Any])?["compared"] as? Int == 1)
        #expect((summary["confidenceHistogram"] as? [String: Int])?.values.reduce(0, +) == 1)
        try client.send(["jsonrpc": "2.0", "id": 201, "method": "audit/recent", "params": ["limit": "x"]])
        let bad = try client.response(id: 201, notifications: &notes)
        #expect((bad["error"] as? [String: Any])?["code"] as? Int == -32602)
        try client.send(["jsonrpc": "2.0", "id": 202, "method": "health"])
        let warm = try client.response(id: 202, notifications: &notes)["result"] as! [String: Any]
        #expect(warm["modelLoaded"] as? Bool == true && warm["requestsServed"] as? Int == 1)
        // The primary's engine figures: at least the two candidates' tokens (the gate may add a
        // round), their prompt rows, and the time the passes took.
        let engine = try #require(warm["engine"] as? [String: Any])
        let tokens = ((generated["attempts"] as? [[String: Any]]) ?? []).flatMap { $0["candidates"] as? [[String: Any]] ?? [] }.reduce(0) { $0 + ($1["tokens"] as? Int ?? 0) }
        #expect(tokens > 0 && engine["tokens"] as? Int ?? 0 >= tokens)
        #expect(engine["promptRows"] as? Int ?? 0 > 0 && engine["passes"] as? Int ?? 0 > 0)
        #expect(engine["forwardSeconds"] as? Double ?? 0 > 0)
        #expect(try client.shutdown(id: 203) == 0)
    }

    @Test("12 concurrent generate requests all complete, with progress, while check still answers; \"gate\": false skips the gate")
    func concurrentGenerates() throws {
        let client = try StdioClient()
        for id in 1...12 {
            try client.send(["jsonrpc": "2.0", "id": id, "method": "generate",
                             "params": ["task": "Return the maximum of a list number \(id).", "candidates": 2, "maxAttempts": 1, "maxTokens": 24, "seed": id, "gate": id % 2 == 0]])
        }
        try client.send(["jsonrpc": "2.0", "id": 100, "method": "check", "params": ["code": "defmodule A do\n  @moduledoc \"A.\"\n  def f, do: 1\nend\n"]])
        try client.send(["jsonrpc": "2.0", "id": 101, "method": "generate", "params": ["task": "Reverse a list.", "gate": "off"]])
        var results: [Int: [String: Any]] = [:]
        var progress = 0
        while results.count < 14 {
            let m = try client.read()
            if m["method"] as? String == "$/progress" { progress += 1; continue }
            results[m["id"] as! Int] = m
        }
        for id in 1...12 {
            let r = try #require(results[id]?["result"] as? [String: Any], "request \(id): \(String(describing: results[id]))")
            #expect((r["code"] as? String)?.hasPrefix("defmodule ") == true)
            #expect(["verified", "compiled", "problems"].contains(r["status"] as? String))
            // The gate reports on every gated answer, and on none of the others.
            #expect((r["gating"] is [String: Any]) == (id % 2 == 0), "request \(id): \(String(describing: r["gating"]))")
        }
        #expect((results[101]?["error"] as? [String: Any])?["code"] as? Int == -32602, "\(String(describing: results[101]))")
        #expect((results[100]?["result"] as? [String: Any])?["clean"] as? Bool == true, "\(String(describing: results[100]))")
        #expect(progress >= 12)
        #expect(try client.shutdown(id: 200) == 0)
    }

    @Test("a cancelled generate answers -32800 and the server keeps serving; streaming sends partials")
    func cancelAndStream() throws {
        let client = try StdioClient()
        try client.send(["jsonrpc": "2.0", "id": 1, "method": "generate",
                         "params": ["task": "Sort a list of maps by a key.", "candidates": 2, "maxAttempts": 3, "maxTokens": 256]])
        var notes: [[String: Any]] = []
        // Wait until it is running, then cancel.
        while notes.isEmpty { notes.append(try client.read()) }
        try client.send(["jsonrpc": "2.0", "method": "$/cancelRequest", "params": ["id": 1]])
        let cancelled = try client.response(id: 1, notifications: &notes)
        #expect((cancelled["error"] as? [String: Any])?["code"] as? Int == -32800)

        try client.send(["jsonrpc": "2.0", "id": 2, "method": "generate",
                         "params": ["task": "Add two numbers.", "candidates": 1, "maxAttempts": 1, "maxTokens": 16, "stream": true]])
        notes = []
        let done = try client.response(id: 2, notifications: &notes)
        let partials = notes.filter { $0["method"] as? String == "generate/partial" }
        #expect(!partials.isEmpty)
        let streamed = partials.compactMap { ($0["params"] as? [String: Any])?["delta"] as? String }.joined()
        let code = try #require((done["result"] as? [String: Any])?["code"] as? String)
        #expect(code.contains(streamed.trimmingCharacters(in: .whitespacesAndNewlines).prefix(10)))
        // Every notification of a request comes before its result, none after.
        try client.send(["jsonrpc": "2.0", "id": 3, "method": "health"])
        var after: [[String: Any]] = []
        _ = try client.response(id: 3, notifications: &after)
        #expect(!after.contains { ($0["params"] as? [String: Any])?["id"] as? Int == 2 || (($0["params"] as? [String: Any])?["token"] as? Int) == 2 },
                "\(after.count) notification(s) of request 2 after its result")
        #expect(try client.finish() == 1, "end of input without shutdown exits 1")
    }
}
