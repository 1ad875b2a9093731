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
