import Foundation
@testable import OpenAIServer
import Testing

/// The guards when `--host` binds another address.
@Suite("HTTP host")
struct HTTPHostTests {
    @Test("a server bound with --host also accepts that Host name (any for 0.0.0.0), and nothing else; open paths skip the token")
    func acceptedHost() throws {
        let (server, task) = try HTTPLimitsTests.server {
            $0.acceptedHost = "192.0.2.7"
            $0.bearerToken = "t"
            $0.openPaths = ["/health", "/"]
        }
        defer { task.cancel() }
        let p = server.port
        let auth = "Authorization: Bearer t\r\n"
        #expect(try HTTPLimitsTests.exchange(p, "GET /x HTTP/1.1\r\nHost: 192.0.2.7:\(p)\r\n\(auth)\r\n") == 200)
        #expect(try HTTPLimitsTests.exchange(p, "GET /x HTTP/1.1\r\nHost: 192.0.2.7\r\nOrigin: http://192.0.2.7:\(p)\r\n\(auth)\r\n") == 200)
        #expect(try HTTPLimitsTests.exchange(p, "GET /x HTTP/1.1\r\nHost: 192.0.2.77\r\n\(auth)\r\n") == 403)
        #expect(try HTTPLimitsTests.exchange(p, "GET /x HTTP/1.1\r\nHost: 192.0.2.7.attacker.example\r\n\(auth)\r\n") == 403)
        #expect(try HTTPLimitsTests.exchange(p, "GET /x HTTP/1.1\r\nHost: 192.0.2.7:\(p)\r\n\r\n") == 401)
        // The panel's page holds no data: it opens without the token; POST to it does not.
        #expect(try HTTPLimitsTests.exchange(p, "GET / HTTP/1.1\r\nHost: 192.0.2.7\r\n\r\n") == 200)
        #expect(try HTTPLimitsTests.exchange(p, "POST / HTTP/1.1\r\nHost: 192.0.2.7\r\nContent-Length: 0\r\n\r\n") == 401)

        let (wide, wideTask) = try HTTPLimitsTests.server { $0.acceptedHost = "*" }
        defer { wideTask.cancel() }
        #expect(try HTTPLimitsTests.exchange(wide.port, "GET /x HTTP/1.1\r\nHost: build-box.lan:\(wide.port)\r\n\r\n") == 200)
    }

    @Test("an address that is not IPv4 is refused with the flag's name")
    func badHost() {
        #expect(throws: HTTPServerError.self) { try HTTPServer(host: "example.org", port: 0, logger: .init(label: "t")) { _, _ in } }
    }
}
