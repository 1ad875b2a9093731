import Foundation
import Glibc
import Logging
@testable import OpenAIServer
import Testing

/// The HTTP server's own guards, with a handler that answers 200 and nothing else.
@Suite("HTTP limits")
struct HTTPLimitsTests {
    static func server(_ configure: (inout HTTPServer.Limits) -> Void) throws -> (HTTPServer, Task<Void, Never>) {
        var limits = HTTPServer.Limits()
        configure(&limits)
        let server = try HTTPServer(port: 0, limits: limits, logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }) { _, writer in
            writer.respond(status: 200, json: ["ok": true])
        }
        return (server, Task.detached { await server.run() })
    }

    /// A connected socket to the server.
    static func connect(_ port: Int) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = UInt16(port).bigEndian
        let ok = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard ok == 0 else { throw POSIXError(.ECONNREFUSED) }
        return fd
    }

    /// Sends `bytes` and reads until the server closes; returns the status code.
    static func exchange(_ port: Int, _ bytes: String) throws -> Int {
        let fd = try connect(port)
        defer { close(fd) }
        _ = bytes.withCString { send(fd, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
        return status(readAll(fd))
    }

    static func readAll(_ fd: Int32) -> String {
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = read(fd, &buf, buf.count)
            if n <= 0 { break }
            out += buf[0..<n]
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func status(_ response: String) -> Int {
        Int(response.split(separator: " ").dropFirst().first ?? "") ?? 0
    }

    @Test("only loopback Host and Origin names are served: a web page cannot reach the server by DNS rebinding or a cross-site request")
    func loopbackOnly() throws {
        let (server, task) = try Self.server { _ in }
        defer { task.cancel() }
        let p = server.port
        #expect(try Self.exchange(p, "GET /x HTTP/1.1\r\nHost: 127.0.0.1:\(p)\r\n\r\n") == 200)
        #expect(try Self.exchange(p, "GET /x HTTP/1.1\r\nHost: localhost:\(p)\r\n\r\n") == 200)
        #expect(try Self.exchange(p, "GET /x HTTP/1.1\r\nHost: [::1]:\(p)\r\n\r\n") == 200)
        #expect(try Self.exchange(p, "GET /x HTTP/1.1\r\nHost: attacker.example\r\n\r\n") == 403)
        #expect(try Self.exchange(p, "GET /x HTTP/1.1\r\nHost: 127.0.0.1.attacker.example\r\n\r\n") == 403)
        #expect(try Self.exchange(p, "POST /x HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: https://attacker.example\r\nContent-Length: 0\r\n\r\n") == 403)
        #expect(try Self.exchange(p, "POST /x HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: null\r\nContent-Length: 0\r\n\r\n") == 403)
        #expect(try Self.exchange(p, "POST /x HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: http://localhost:3000\r\nContent-Length: 0\r\n\r\n") == 200)
    }

    @Test("with a bearer token set, requests without it or with another get 401; GET /health stays open for probes")
    func bearerToken() throws {
        let (server, task) = try Self.server { $0.bearerToken = "s3cret" }
        defer { task.cancel() }
        let p = server.port
        let none = try Self.connect(p)
        _ = "GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".withCString { send(none, $0, strlen($0), 0) }
        let reply = Self.readAll(none)
        close(none)
        #expect(Self.status(reply) == 401 && reply.contains("WWW-Authenticate: Bearer"))
        #expect(try Self.exchange(p, "GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer wrong\r\n\r\n") == 401)
        #expect(try Self.exchange(p, "GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer s3cret\r\n\r\n") == 200)
        #expect(try Self.exchange(p, "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n") == 200)
    }

    @Test("a request that trickles in past the deadline gets a 408, and its connection is freed")
    func deadline() throws {
        let (server, task) = try Self.server { $0.requestDeadline = 1 }
        defer { task.cancel() }
        let fd = try Self.connect(server.port)
        defer { close(fd) }
        let start = Date()
        // Half a header, then a byte every 0.4 s: no single read waits long, the whole request does.
        _ = "GET /x HTTP/1.1\r\n".withCString { send(fd, $0, strlen($0), 0) }
        for _ in 0..<4 {
            usleep(400_000)
            _ = "X".withCString { send(fd, $0, 1, Int32(MSG_NOSIGNAL)) }
        }
        let reply = Self.readAll(fd)
        #expect(Self.status(reply) == 408, "\(reply)")
        #expect(Date().timeIntervalSince(start) < 5)
    }

    @Test("connections past the cap get a 503 at once; once one closes, the next is served")
    func connectionCap() throws {
        let (server, task) = try Self.server { $0.maxConnections = 2; $0.requestDeadline = 5 }
        defer { task.cancel() }
        let p = server.port
        // Two idle connections hold both places.
        let a = try Self.connect(p), b = try Self.connect(p)
        usleep(200_000)
        #expect(try Self.exchange(p, "GET /x HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n") == 503)
        _ = "GET /x HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".withCString { send(a, $0, strlen($0), 0) }
        #expect(Self.status(Self.readAll(a)) == 200)
        close(a)
        usleep(200_000)
        #expect(try Self.exchange(p, "GET /x HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n") == 200)
        close(b)
    }
}
