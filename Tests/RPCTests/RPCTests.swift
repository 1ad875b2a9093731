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

    final class Sink: @unchecked Sendable {
        let lock = NSLock()
        var frames: [[String: Any]] = []
        func take(_ d: Data) {
            var framer = MessageFramer()
            framer.append(Array(d))
            guard case .message(let body) = framer.next() else { return }
            lock.lock()
            frames.append(try! JSONSerialization.jsonObject(with: Data(body)) as! [String: Any])
            lock.unlock()
        }
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
}
