import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A tiny HTTP/1.1 server on 127.0.0.1 that answers each connection with the next scripted
/// reply, byte for byte, and records what the client sent. One connection per request.
final class LoopbackServer: @unchecked Sendable {
    /// How a reply's body is delimited.
    enum Framing: Sendable {
        case contentLength
        /// `Transfer-Encoding: chunked`, the body cut into pieces of this many bytes.
        case chunked(Int)
        /// No length: the body ends when the server closes the connection.
        case close
    }

    struct Reply: Sendable {
        var status: Int = 200
        var contentType = "application/json"
        var headers: [String: String] = [:]
        var body: Data
        var framing: Framing = .contentLength
        /// Seconds to wait before answering (to trip the client's timeout).
        var stall: Double = 0

        static func json(_ body: Data, status: Int = 200) -> Reply { Reply(status: status, body: body) }
        static func sse(_ body: Data, framing: Framing) -> Reply { Reply(contentType: "text/event-stream", body: body, framing: framing) }
    }

    struct Recorded: Sendable {
        let method: String
        let path: String
        /// Lower-cased names.
        let headers: [String: String]
        let body: Data
        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] ?? [:] }
    }

    let port: Int
    var url: URL { URL(string: "http://127.0.0.1:\(port)")! }
    private let fd: Int32
    private let lock = NSLock()
    private var replies: [Reply]
    private var recorded: [Recorded] = []

    var requests: [Recorded] { lock.withLock { recorded } }

    /// Starts serving `replies` in order; the last one repeats.
    init(_ replies: [Reply]) throws {
        self.replies = replies
        (fd, port) = try Self.listen()
        let t = Thread { [self] in acceptLoop() }
        t.start()
    }

    private var stopping = false

    /// Stops accepting. The loop closes the socket only after this, so the shutdown never
    /// reaches a descriptor number that has since been reused.
    func stop() {
        lock.withLock {
            guard !stopping else { return }
            stopping = true
            shutdown(fd, Int32(SHUT_RDWR))
        }
    }

    /// A port nobody listens on (bound, then closed).
    static func closedPort() throws -> Int {
        let (fd, port) = try listen()
        close(fd)
        return port
    }

    private static func listen() throws -> (Int32, Int) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EIO) }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        let ok = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard ok == 0, Glibc.listen(fd, 16) == 0 else { throw POSIXError(.EADDRINUSE) }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        return (fd, Int(UInt16(bigEndian: addr.sin_port)))
    }

    private func acceptLoop() {
        while true {
            let c = accept(fd, nil, nil)
            if c < 0 {
                if lock.withLock({ stopping }) { break }
                continue
            }
            serve(c)
            close(c)
        }
        close(fd)
    }

    private func serve(_ c: Int32) {
        var buffer = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 65536)
        func fill() -> Bool {
            let n = read(c, &chunk, chunk.count)
            if n <= 0 { return false }
            buffer += chunk[0..<n]
            return true
        }
        let separator: [UInt8] = Array("\r\n\r\n".utf8)
        var headEnd: Int?
        while headEnd == nil {
            if let r = buffer.firstRange(of: separator) { headEnd = r.upperBound } else if !fill() { return }
        }
        let head = String(decoding: buffer[..<headEnd!], as: UTF8.self).components(separatedBy: "\r\n")
        let requestLine = head[0].split(separator: " ")
        var headers: [String: String] = [:]
        for line in head.dropFirst() where line.contains(":") {
            let i = line.firstIndex(of: ":")!
            headers[line[..<i].lowercased()] = line[line.index(after: i)...].trimmingCharacters(in: .whitespaces)
        }
        let length = Int(headers["content-length"] ?? "0") ?? 0
        while buffer.count - headEnd! < length { if !fill() { return } }
        let body = Data(buffer[headEnd!..<(headEnd! + length)])
        let reply: Reply = lock.withLock {
            recorded.append(Recorded(method: String(requestLine[0]), path: String(requestLine[1]), headers: headers, body: body))
            return replies.count > 1 ? replies.removeFirst() : replies[0]
        }
        if reply.stall > 0 { Thread.sleep(forTimeInterval: reply.stall) }
        write(c, reply)
    }

    private func write(_ c: Int32, _ reply: Reply) {
        var head = "HTTP/1.1 \(reply.status) \(reply.status == 200 ? "OK" : "Status")\r\nContent-Type: \(reply.contentType)\r\nConnection: close\r\n"
        for (k, v) in reply.headers { head += "\(k): \(v)\r\n" }
        switch reply.framing {
        case .contentLength: head += "Content-Length: \(reply.body.count)\r\n\r\n"
        case .chunked: head += "Transfer-Encoding: chunked\r\n\r\n"
        case .close: head += "\r\n"
        }
        send(c, Data(head.utf8))
        switch reply.framing {
        case .contentLength, .close:
            send(c, reply.body)
        case .chunked(let size):
            var i = reply.body.startIndex
            while i < reply.body.endIndex {
                let piece = reply.body[i..<min(i + size, reply.body.endIndex)]
                send(c, Data(String(piece.count, radix: 16).utf8) + Data("\r\n".utf8) + piece + Data("\r\n".utf8))
                i += piece.count
            }
            send(c, Data("0\r\n\r\n".utf8))
        }
    }

    private func send(_ c: Int32, _ data: Data) {
        data.withUnsafeBytes { raw in
            var off = 0
            while off < raw.count {
                let n = Glibc.send(c, raw.baseAddress! + off, raw.count - off, Int32(MSG_NOSIGNAL))
                if n <= 0 { return }
                off += n
            }
        }
    }
}
