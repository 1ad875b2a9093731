import Foundation
import RPC
import Testing

@Suite("JSON-RPC framing and dispatch")
struct RPCTests {
    @Test("integers outside the 64-bit range, fractions and non-numbers are not integers, and nothing traps")
    func integersExactly() {
        #expect(JSONValue.number(1e19).int == nil)
        #expect(JSONValue.number(-1e19).int == nil)
        #expect(JSONValue.number(.infinity).int == nil)
        #expect(JSONValue.number(2.5).int == nil)
        #expect(JSONValue.number(42).int == 42)
        #expect(JSONValue.string("42").int == nil)
    }

    @Test("frames split across reads and several frames in one read both come out whole")
    func framing() {
        var f = MessageFramer()
        let a = Array(MessageFramer.frame(Data("{\"a\":1}".utf8)))
        let b = Array(MessageFramer.frame(Data("{\"b\":2}".utf8)))
        f.append(Array(a.prefix(5)))
        #expect(f.next() == nil)
        f.append(Array(a.dropFirst(5)) + b)
        #expect(f.next() == .message(Array("{\"a\":1}".utf8)))
        #expect(f.next() == .message(Array("{\"b\":2}".utf8)))
        #expect(f.next() == nil)
        f.append(Array("X-Other: 1\r\n\r\n".utf8))
        if case .badHeader = f.next() {} else { Issue.record("a header without Content-Length is reported") }
    }

    /// The frames `bytes` holds, in order.
    func frames(_ bytes: String, max: Int = 1 << 20) -> [MessageFramer.Frame] {
        var f = MessageFramer(maxFrameBytes: max)
        f.append(Array(bytes.utf8))
        var out: [MessageFramer.Frame] = []
        while let frame = f.next() { out.append(frame) }
        return out
    }

    @Test("a bad frame costs only itself: short and long lengths, missing or malformed headers, oversized bodies")
    func resynchronises() {
        let good = "Content-Length: 7\r\n\r\n{\"b\":2}"
        let ok = MessageFramer.Frame.message(Array("{\"b\":2}".utf8))
        // "é" is two bytes: a client that counted characters says one byte too few.
        let short = frames("Content-Length: 9\r\n\r\n{\"a\":\"é\"}" + good)
        #expect(short.count == 2 && short.last == ok, "\(short)")
        #expect(short.first == .message(Array("{\"a\":\"é\"".utf8)), "the bad frame is its declared bytes")
        // One byte too many: the body takes the next header's first byte, and that header is still found.
        let long = frames("Content-Length: 8\r\n\r\n{\"a\":1}" + good)
        #expect(long.count == 2 && long.last == ok, "\(long)")
        // Many bytes too many: the body ends where the next header begins.
        let runsOn = frames("Content-Length: 40\r\n\r\n{\"a\":1}" + good)
        #expect(runsOn == [.message(Array("{\"a\":1}".utf8)), ok], "\(runsOn)")
        // No Content-Length, or not a number: reported, its body dropped, the next frame read.
        for header in ["X-Other: 1", "Content-Length: abc", "Content-Length: -3", "Content-Length: 1e3"] {
            let r = frames(header + "\r\n\r\n{\"a\":1}" + good)
            #expect(r.count == 2 && r.last == ok, "\(header): \(r)")
            if case .badHeader = r.first {} else { Issue.record("\(header) is reported: \(r)") }
        }
        // Other header fields after the length are fine.
        #expect(frames("Content-Length: 7\r\nContent-Type: application/vscode-jsonrpc; charset=utf-8\r\n\r\n{\"b\":2}") == [ok])
        // Over the limit: refused without buffering, its body skipped, the next frame read.
        let big = frames("Content-Length: 1000000000000\r\n\r\n" + String(repeating: "x", count: 300) + good, max: 100)
        #expect(big == [.tooLarge(1_000_000_000_000), ok], "\(big)")
        // A JSON string cannot hold a raw line break, so text about headers inside a body stays whole.
        let quoted = "{\"task\":\"parse Content-Length: 5\\r\\n\\r\\n\"}"
        #expect(frames("Content-Length: \(quoted.utf8.count)\r\n\r\n" + quoted) == [.message(Array(quoted.utf8))])
    }

    @Test("bytes that never make a header are dropped once they pass the limit, so memory stays bounded")
    func boundedBuffer() {
        var f = MessageFramer(maxFrameBytes: 100)
        f.append(Array(repeating: UInt8(ascii: "x"), count: 10_000))
        if case .badHeader = f.next() {} else { Issue.record("endless bytes without a header are reported") }
        f.append(Array("Content-Length: 2\r\n\r\n{}".utf8))
        #expect(f.next() == .message(Array("{}".utf8)))
    }

    /// Captures what the server writes: every body as it was sent, and the single (non-batch) messages.
    final class Sink: @unchecked Sendable {
        let lock = NSLock()
        private var _bodies: [Data] = []
        func take(_ d: Data) {
            var framer = MessageFramer()
            framer.append(Array(d))
            guard case .message(let body) = framer.next() else { return }
            lock.withLock { _bodies.append(Data(body)) }
        }
        var bodies: [Data] { lock.withLock { _bodies } }
        var texts: [String] { bodies.map { String(decoding: $0, as: UTF8.self) } }
        var messages: [Any] { bodies.map { try! JSONSerialization.jsonObject(with: $0) } }
        var frames: [[String: Any]] { messages.compactMap { $0 as? [String: Any] } }
    }

    @Test("requests get results, errors get the standard codes, notifications get nothing")
    func dispatch() async throws {
        let sink = Sink()
        let server = RPCServer(write: { sink.take($0) })
        await server.register("echo") { ctx in ctx.params }
        await server.register("fail") { _ in throw RPCError(.invalidParams, "bad") }
        await server.receive(Array(#"{"jsonrpc":"2.0","id":1,"method":"echo","params":{"x":1}}"#.utf8))
        await server.receive(Array(#"{"jsonrpc":"2.0","id":2,"method":"fail"}"#.utf8))
        await server.receive(Array(#"{"jsonrpc":"2.0","id":3,"method":"missing"}"#.utf8))
        await server.receive(Array(#"{"jsonrpc":"2.0","method":"echo"}"#.utf8))
        await server.receive(Array(#"[]"#.utf8))
        await server.receive(Array(#"{"jsonrpc":"2.0","id":4,"method":"echo","params":3}"#.utf8))
        await server.drain()
        try await Task.sleep(for: .milliseconds(50))
        let byID = Dictionary(sink.frames.compactMap { f in (f["id"] as? Int).map { ($0, f) } }, uniquingKeysWith: { a, _ in a })
        #expect((byID[1]?["result"] as? [String: Any])?["x"] as? Int == 1)
        #expect((byID[2]?["error"] as? [String: Any])?["code"] as? Int == -32602)
        #expect((byID[3]?["error"] as? [String: Any])?["code"] as? Int == -32601)
        #expect((byID[4]?["error"] as? [String: Any])?["code"] as? Int == -32602)
        #expect(sink.frames.contains { ($0["error"] as? [String: Any])?["code"] as? Int == -32600 })
        #expect(sink.frames.count == 5, "the notification got no answer")
    }

    /// A server with `echo`, `slow` (runs until cancelled, reporting start and cancellation),
    /// `note` (counts its calls) and `shutdown`.
    struct Harness {
        let sink = Sink()
        let server: RPCServer
        let started = Flag(), cancelled = Flag(), notes = Flag()

        init() async {
            let sink = sink
            server = RPCServer(write: { sink.take($0) })
            await server.register("echo") { ctx in ctx.params }
            await server.register("shutdown") { _ in .null }
            let (started, cancelled, notes) = (started, cancelled, notes)
            await server.register("note") { _ in notes.raise(); return .null }
            await server.register("slow") { _ in
                started.raise()
                do { try await Task.sleep(for: .seconds(600)) } catch { cancelled.raise(); throw error }
                return .null
            }
        }

        func send(_ json: String) async { await server.receive(Array(json.utf8)) }
    }

    /// A counter set from handlers and read by the test.
    final class Flag: @unchecked Sendable {
        private let lock = NSLock()
        private var n = 0
        func raise() { lock.withLock { n += 1 } }
        var count: Int { lock.withLock { n } }
        /// Waits up to `seconds` for the flag to be raised.
        func wait(_ seconds: Double = 5) async -> Bool {
            let end = Date().addingTimeInterval(seconds)
            while count == 0, Date() < end { try? await Task.sleep(for: .milliseconds(5)) }
            return count > 0
        }
    }

    @Test("ids: objects, arrays, booleans and fractions are invalid requests answered with id null; integers past 2^53 come back exactly")
    func requestIDs() async throws {
        let h = await Harness()
        for bad in [#"{"a":1}"#, "[1]", "true", "1.5", "1e300", "18446744073709551616"] {
            await h.send(#"{"jsonrpc":"2.0","id":\#(bad),"method":"echo"}"#)
        }
        await h.server.drain()
        #expect(h.sink.frames.count == 6, "\(h.sink.texts)")
        for f in h.sink.frames {
            #expect((f["error"] as? [String: Any])?["code"] as? Int == -32600 && f["id"] is NSNull, "\(f)")
        }
        // Exact ids, checked as text: a Double would turn ...993 into ...992.
        let good = ["9007199254740993", "-9223372036854775808", "9223372036854775807", "0", #""9007199254740993""#, "null"]
        for id in good { await h.send(#"{"jsonrpc":"2.0","id":\#(id),"method":"echo","params":{"n":12345678901234567}}"#) }
        await h.server.drain()
        let answers = h.sink.texts.dropFirst(6)
        for id in good {
            #expect(answers.contains { $0.contains(#""id":\#(id),"#) && $0.contains(#""result":{"n":12345678901234567}"#) }, "\(id): \(answers)")
        }
        // The accessors and equality work across both number cases.
        let big = try JSONDecoder().decode(JSONValue.self, from: Data("9007199254740993".utf8))
        #expect(big == .integer(9_007_199_254_740_993) && big.int == 9_007_199_254_740_993)
        #expect(JSONValue.number(42) == .integer(42) && JSONValue.number(42).hashValue == JSONValue.integer(42).hashValue)
        #expect(JSONValue.integer(3).double == 3 && JSONValue.number(2.5) != .integer(2))
        #expect(String(decoding: try JSONEncoder().encode(big), as: UTF8.self) == "9007199254740993")
    }

    @Test("a batch is answered with one array; notifications get no entry, non-objects an error entry, an all-notification batch nothing")
    func batches() async throws {
        let h = await Harness()
        await h.send(#"[{"jsonrpc":"2.0","id":1,"method":"echo","params":{"a":1}},{"jsonrpc":"2.0","method":"note"},5,{"jsonrpc":"2.0","id":2,"method":"missing"},{"jsonrpc":"2.0","id":3,"method":"echo"}]"#)
        await h.server.drain()
        let batch = try #require(h.sink.messages.first as? [[String: Any]], "\(h.sink.texts)")
        #expect(h.sink.bodies.count == 1, "one message for the whole batch: \(h.sink.texts)")
        #expect(batch.count == 4)
        let byID = Dictionary(batch.compactMap { e in (e["id"] as? Int).map { ($0, e) } }, uniquingKeysWith: { a, _ in a })
        #expect((byID[1]?["result"] as? [String: Any])?["a"] as? Int == 1)
        #expect((byID[2]?["error"] as? [String: Any])?["code"] as? Int == -32601)
        #expect(byID[3]?["result"] != nil)
        #expect(batch.contains { $0["id"] is NSNull && ($0["error"] as? [String: Any])?["code"] as? Int == -32600 })

        await h.send(#"[{"jsonrpc":"2.0","method":"note"},{"jsonrpc":"2.0","method":"note"}]"#)
        await h.server.drain()
        #expect(h.notes.count == 3)
        await h.send("[]")
        await h.send("[7]")
        await h.server.drain()
        let rest = h.sink.messages.dropFirst()
        #expect(rest.count == 2, "notifications only: nothing; [] and [7]: one each: \(h.sink.texts)")
        #expect(((rest.first as? [String: Any])?["error"] as? [String: Any])?["code"] as? Int == -32600, "an empty batch gets one error, not an array")
        #expect((rest.last as? [[String: Any]])?.count == 1)
    }

    @Test("after shutdown, requests are invalid and notifications dropped; exit cancels what runs without waiting")
    func shutdownAndExit() async throws {
        let h = await Harness()
        await h.send(#"{"jsonrpc":"2.0","id":1,"method":"slow"}"#)
        #expect(await h.started.wait())
        await h.send(#"{"jsonrpc":"2.0","id":2,"method":"shutdown"}"#)
        let deadline = Date().addingTimeInterval(5)
        while h.sink.bodies.isEmpty, Date() < deadline { try await Task.sleep(for: .milliseconds(5)) }
        await h.send(#"{"jsonrpc":"2.0","id":3,"method":"echo"}"#)
        await h.send(#"{"jsonrpc":"2.0","id":4,"method":"shutdown"}"#)
        await h.send(#"{"jsonrpc":"2.0","method":"note"}"#)
        let byID = Dictionary(h.sink.frames.compactMap { f in (f["id"] as? Int).map { ($0, f) } }, uniquingKeysWith: { a, _ in a })
        #expect(byID[2]?["result"] is NSNull, "shutdown is answered: \(h.sink.texts)")
        for id in [3, 4] {
            let e = byID[id]?["error"] as? [String: Any]
            #expect(e?["code"] as? Int == -32600 && (e?["message"] as? String)?.contains("shutting down") == true, "\(id): \(h.sink.texts)")
        }
        let runningBefore = await h.server.inFlight
        #expect(runningBefore == 1 && h.cancelled.count == 0)
        let before = h.sink.bodies.count
        await h.send(#"{"jsonrpc":"2.0","method":"exit"}"#)
        let (exiting, clean, running) = (await h.server.shouldExit, await h.server.shutdownRequested, await h.server.inFlight)
        #expect(exiting && clean)
        #expect(running == 0, "exit does not wait for the running request")
        #expect(await h.cancelled.wait(), "the running request is cancelled")
        try await Task.sleep(for: .milliseconds(50))
        #expect(h.sink.bodies.count == before, "nothing is written after exit: \(h.sink.texts)")
        #expect(h.notes.count == 0, "a notification after shutdown is dropped")
    }

    @Test("cancelAll (the client went away) cancels every running request at once and ends all output")
    func cancelAllOnEndOfInput() async throws {
        let h = await Harness()
        await h.send(#"[{"jsonrpc":"2.0","id":1,"method":"slow"},{"jsonrpc":"2.0","id":2,"method":"echo"}]"#)
        await h.send(#"{"jsonrpc":"2.0","id":3,"method":"slow"}"#)
        await h.send(#"{"jsonrpc":"2.0","method":"slow"}"#)
        let deadline = Date().addingTimeInterval(5)
        while h.started.count < 3, Date() < deadline { try await Task.sleep(for: .milliseconds(5)) }
        #expect(h.started.count == 3)
        let answered = h.sink.bodies.count
        await h.server.cancelAll()
        let (running, clean) = (await h.server.inFlight, await h.server.shutdownRequested)
        #expect(running == 0 && !clean, "nothing is left to wait for")
        while h.cancelled.count < 3, Date() < deadline { try await Task.sleep(for: .milliseconds(5)) }
        #expect(h.cancelled.count == 3, "every running request and notification is cancelled")
        await h.send(#"{"jsonrpc":"2.0","id":4,"method":"echo"}"#)
        try await Task.sleep(for: .milliseconds(50))
        #expect(h.sink.bodies.count == answered, "no answers after the client is gone: \(h.sink.texts)")
    }
}
