import Foundation
import Logging
import Glibc
import OpenAIBackend
import Synchronization

/// An HTTP/1.1 request as read from a connection.
public struct HTTPRequest: Sendable {
    public var method: String
    /// The path without the query string.
    public var path: String
    /// The query string's parameters, percent-decoded (the last of a repeated name wins).
    public var query: [String: String] = [:]
    /// Header values by lower-cased name.
    public var headers: [String: String]
    public var body: Data
}

/// Why the HTTP server could not start.
public struct HTTPServerError: Error, CustomStringConvertible, Sendable {
    public enum Code: String, Sendable { case socket, bind, listen }
    public let code: Code
    public let message: String
    public var description: String { message }
}

/// A small HTTP/1.1 server on POSIX sockets for loopback use: one request per connection
/// (`Connection: close`), `Content-Length` request bodies, fixed-length or chunked responses.
///
/// A thread blocks in `accept` and each connection's request is read on its own thread, so
/// blocking socket calls never occupy the cooperative thread pool; handlers run as tasks.
public final class HTTPServer: Sendable {
    /// Answers one request; it must write a response through the writer.
    public typealias Handler = @Sendable (HTTPRequest, HTTPResponseWriter) async -> Void

    /// Requests larger than these are refused without reading further.
    static let maxHeaderBytes = 64 << 10
    static let maxBodyBytes = 16 << 20

    /// What the server accepts: how many connections at once, how long a request may take to
    /// arrive, and who may call it.
    public struct Limits: Sendable {
        /// Connections served at once; more are answered 503 at once and closed.
        public var maxConnections = 64
        /// Seconds from accepting a connection until its whole request has arrived, so a client
        /// that sends a byte now and then cannot hold a connection (and a thread) for ever.
        public var requestDeadline: Double = 30
        /// When set, every request but `GET /health` and the panel's page (which holds no data and
        /// asks for the token) must carry `Authorization: Bearer <token>`.
        public var bearerToken: String?
        /// A host name besides the loopback ones that `Host` and `Origin` may name: the address
        /// the server was bound to with `--host`; `*` (a wildcard bind) accepts any.
        public var acceptedHost: String?
        /// Paths any client may `GET` without the token.
        public var openPaths: Set<String> = ["/health"]

        public init() {}
    }

    /// The bound port (useful when asked for port 0).
    public let port: Int
    private let socket: Int32
    private let handler: Handler
    private let logger: Logger
    private let limits: Limits

    /// Binds `host` (an IPv4 address; 127.0.0.1 unless told otherwise) and starts listening;
    /// `run()` starts answering.
    /// - Throws: `HTTPServerError` naming the port, e.g. when it is in use.
    public init(host: String = "127.0.0.1", port: Int, limits: Limits = Limits(), logger: Logger, handler: @escaping Handler) throws {
        let fd = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw HTTPServerError(code: .socket, message: "cannot create a socket: \(String(cString: strerror(errno)))") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        guard inet_pton(AF_INET, host == "localhost" ? "127.0.0.1" : host, &addr.sin_addr) == 1 else {
            close(fd)
            throw HTTPServerError(code: .bind, message: "--host '\(host)' is not an IPv4 address such as 127.0.0.1 or 0.0.0.0")
        }
        addr.sin_port = UInt16(clamping: port).bigEndian
        let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard bound == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw HTTPServerError(code: .bind, message: "cannot listen on \(host):\(port): \(reason); pick another --port")
        }
        guard listen(fd, 64) == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw HTTPServerError(code: .listen, message: "cannot listen on \(host):\(port): \(reason)")
        }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        self.port = Int(UInt16(bigEndian: addr.sin_port))
        self.socket = fd
        self.handler = handler
        self.logger = logger
        self.limits = limits
    }

    /// Accepts connections until the calling task is cancelled, then closes the socket.
    /// Requests already being answered run to their end.
    public func run() async {
        let fd = socket
        let handler = handler
        let logger = logger
        let limits = limits
        let open = Mutex(0)
        // The socket is closed only once stopping is set and shut down, so a late shutdown can
        // never hit a descriptor number the process has since reused.
        let stopping = Mutex(false)
        await withTaskCancellationHandler {
            await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
                let t = Thread {
                    while true {
                        let c = accept(fd, nil, nil)
                        if c >= 0 {
                            let admitted = open.withLock { n -> Bool in
                                guard n < limits.maxConnections else { return false }
                                n += 1
                                return true
                            }
                            guard admitted else {
                                Connection.refuse(c, status: 503, message: "the server already has \(limits.maxConnections) connections open; retry shortly")
                                continue
                            }
                            Thread { Connection(fd: c, logger: logger, limits: limits).serve(handler) { open.withLock { $0 -= 1 } } }.start()
                            continue
                        }
                        let error = errno
                        if stopping.withLock({ $0 }) { break }
                        // Out of descriptors or memory: wait for connections to end rather than stop serving.
                        if error != EINTR && error != ECONNABORTED {
                            logger.warning("accept failed: \(String(cString: strerror(error))); retrying")
                            usleep(50_000)
                        }
                    }
                    close(fd)
                    done.resume()
                }
                t.name = "elixir-coder.http.accept"
                t.start()
            }
        } onCancel: {
            stopping.withLock { stop in
                stop = true
                // Wakes the blocked accept, which then fails and ends the loop.
                shutdown(fd, Int32(SHUT_RDWR))
            }
        }
    }
}

/// One accepted connection: reads its request, hands it to the handler, closes it after the response.
private struct Connection: Sendable {
    let fd: Int32
    let logger: Logger
    let limits: HTTPServer.Limits

    /// Answers a connection the server will not serve, without reading from it.
    static func refuse(_ fd: Int32, status: Int, message: String) {
        var timeout = timeval(tv_sec: 1, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let writer = HTTPResponseWriter(fd: fd)
        writer.respond(status: status, json: OpenAIErrorBody.json(message, type: "server_error"))
        writer.close()
    }

    /// Reads and answers the request; `finished` runs once the connection is closed.
    func serve(_ handler: @escaping HTTPServer.Handler, finished: @escaping @Sendable () -> Void) {
        var timeout = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let writer = HTTPResponseWriter(fd: fd)
        switch readRequest(writer) {
        case .request(let request):
            if let problem = admission(request) {
                reject(problem, writer)
                finished()
                return
            }
            Task {
                await handler(request, writer)
                writer.close()
                finished()
            }
        case .problem(let problem):
            reject(problem, writer)
            finished()
        case .gone:
            writer.close()
            finished()
        }
    }

    private func reject(_ problem: Problem, _ writer: HTTPResponseWriter) {
        logger.info("rejected a request: \(problem.message)")
        let type = problem.status == 401 ? "authentication_error" : problem.status == 403 ? "permission_error" : "invalid_request_error"
        writer.respond(status: problem.status, json: OpenAIErrorBody.json(problem.message, type: type),
                       extraHeaders: problem.status == 401 ? "WWW-Authenticate: Bearer\r\n" : "")
        writer.close()
    }

    /// Who may call: a loopback Host and Origin only, so a web page cannot reach the server
    /// through DNS rebinding or a cross-site request; the bearer token when one is set.
    func admission(_ request: HTTPRequest) -> Problem? {
        if let host = request.headers["host"], !accepts(host: host) {
            return Problem(status: 403, message: "Host '\(host.prefix(100))' is not a loopback name; this server answers only localhost, 127.0.0.1 and [::1]")
        }
        if let origin = request.headers["origin"] {
            let hostPart = origin.hasPrefix("http://") ? origin.dropFirst(7) : origin.hasPrefix("https://") ? origin.dropFirst(8) : nil
            guard let hostPart, accepts(host: String(hostPart)) else {
                return Problem(status: 403, message: "Origin '\(origin.prefix(100))' is not a loopback origin; pages from other sites may not call this server")
            }
        }
        if let token = limits.bearerToken, !(request.method == "GET" && limits.openPaths.contains(request.path)) {
            let given = request.headers["authorization"] ?? ""
            guard Self.sameBytes(given, "Bearer " + token) else {
                return Problem(status: 401, message: given.isEmpty ? "this server needs Authorization: Bearer <token>" : "the bearer token is not the server's")
            }
        }
        return nil
    }

    /// A loopback name, or the host the server was bound to.
    func accepts(host: String) -> Bool {
        if Self.isLoopback(host: host) { return true }
        guard let accepted = limits.acceptedHost else { return false }
        if accepted == "*" { return true }
        let name = host.lowercased()
        return name == accepted || name.hasPrefix(accepted + ":") && name.dropFirst(accepted.count + 1).allSatisfy(\.isNumber)
    }

    /// `localhost`, `127.x.y.z` or `[::1]`, with or without a port.
    static func isLoopback(host: String) -> Bool {
        var name = host.lowercased()
        if name.hasPrefix("[") {
            guard let close = name.firstIndex(of: "]") else { return false }
            return name[name.index(after: name.startIndex)..<close] == "::1"
        }
        if let colon = name.lastIndex(of: ":") {
            guard name[name.index(after: colon)...].allSatisfy(\.isNumber) else { return false }
            name = String(name[..<colon])
        }
        if name == "localhost" { return true }
        let octets = name.split(separator: ".", omittingEmptySubsequences: false)
        return octets.count == 4 && octets[0] == "127" && octets.allSatisfy { UInt8($0) != nil }
    }

    /// Compares in time that does not depend on where the texts differ.
    static func sameBytes(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        return zip(x, y).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }

    /// A status and message for a request that cannot be read.
    struct Problem {
        let status: Int
        let message: String
    }

    enum ReadOutcome {
        case request(HTTPRequest)
        case problem(Problem)
        /// The peer closed the connection before sending anything.
        case gone
    }

    private func readRequest(_ writer: HTTPResponseWriter) -> ReadOutcome {
        var buffer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16384)
        let deadline = ContinuousClock.now + .milliseconds(Int(limits.requestDeadline * 1000))
        var late = false
        // Each read waits only for what is left of the whole request's time.
        func fill() -> Bool {
            let left = deadline - ContinuousClock.now
            guard left > .zero else {
                late = true
                return false
            }
            let micros = max(1000, Int(left.components.seconds) * 1_000_000 + Int(left.components.attoseconds / 1_000_000_000_000))
            var timeout = timeval(tv_sec: micros / 1_000_000, tv_usec: Int(micros % 1_000_000))
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            let n = read(fd, &chunk, chunk.count)
            if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { late = true }
            guard n > 0 else { return false }
            buffer += chunk[0..<n]
            return true
        }
        let tooSlow = Problem(status: 408, message: "the request did not arrive within \(Int(limits.requestDeadline)) s")
        let separator: [UInt8] = [13, 10, 13, 10]
        var headEnd = 0
        while true {
            if let r = buffer.firstRange(of: separator) {
                headEnd = r.upperBound
                break
            }
            if buffer.count > HTTPServer.maxHeaderBytes { return .problem(Problem(status: 431, message: "the request headers are larger than 64 KiB")) }
            if !fill() { return late ? .problem(tooSlow) : buffer.isEmpty ? .gone : .problem(Problem(status: 400, message: "the request ended before its headers did")) }
        }
        let lines = String(decoding: buffer[..<(headEnd - 4)], as: UTF8.self).components(separatedBy: "\r\n")
        let parts = lines[0].split(separator: " ", omittingEmptySubsequences: true)
        guard parts.count == 3, parts[2].hasPrefix("HTTP/1.") else {
            return .problem(Problem(status: 400, message: "the request line '\(lines[0].prefix(100))' is not 'METHOD /path HTTP/1.1'"))
        }
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { return .problem(Problem(status: 400, message: "the header line '\(line.prefix(100))' has no colon")) }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        if headers["transfer-encoding"] != nil {
            return .problem(Problem(status: 411, message: "chunked request bodies are not supported; send Content-Length"))
        }
        var length = 0
        if let l = headers["content-length"] {
            guard let n = Int(l), n >= 0 else { return .problem(Problem(status: 400, message: "Content-Length '\(l)' is not a number")) }
            length = n
        }
        guard length <= HTTPServer.maxBodyBytes else { return .problem(Problem(status: 413, message: "the request body is larger than 16 MiB")) }
        // curl asks before sending a large body and waits a second otherwise.
        if headers["expect"]?.lowercased() == "100-continue", buffer.count == headEnd { writer.write(Data("HTTP/1.1 100 Continue\r\n\r\n".utf8)) }
        while buffer.count - headEnd < length {
            if !fill() { return .problem(late ? tooSlow : Problem(status: 400, message: "the request body ended after \(buffer.count - headEnd) of \(length) bytes")) }
        }
        let target = parts[1].split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        let path = target.first.map(String.init) ?? "/"
        var query: [String: String] = [:]
        if target.count == 2 {
            for pair in target[1].split(separator: "&") {
                let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                let decode = { (s: Substring) in s.replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String(s) }
                query[decode(kv[0])] = kv.count == 2 ? decode(kv[1]) : ""
            }
        }
        return .request(HTTPRequest(method: String(parts[0]), path: path, query: query, headers: headers, body: Data(buffer[headEnd..<(headEnd + length)])))
    }
}

/// Writes the response to one request: whole, or as a chunked stream.
public final class HTTPResponseWriter: @unchecked Sendable {
    private let fd: Int32
    // Guards `closed` and `failed`: a handler's task and the connection may both end it.
    private let lock = NSLock()
    private var closed = false
    private var failed = false

    init(fd: Int32) {
        self.fd = fd
    }

    /// Whether the client went away (a write failed).
    public var clientGone: Bool { lock.withLock { failed } }

    /// Sends a whole response.
    public func respond(status: Int, contentType: String = "application/json", body: Data, extraHeaders: String = "") {
        let head = "HTTP/1.1 \(status) \(Self.reason(status))\r\nContent-Type: \(contentType)\r\nContent-Length: \(body.count)\r\n\(extraHeaders)Connection: close\r\n\r\n"
        write(Data(head.utf8) + body)
    }

    /// Sends a whole JSON response.
    public func respond(status: Int, json: Any, extraHeaders: String = "") {
        respond(status: status, body: encodeJSON(json), extraHeaders: extraHeaders)
    }

    /// Starts a chunked response (server-sent events, say).
    public func startStream(status: Int = 200, contentType: String) {
        write(Data("HTTP/1.1 \(status) \(Self.reason(status))\r\nContent-Type: \(contentType)\r\nCache-Control: no-cache\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n".utf8))
    }

    /// Sends one chunk of a stream.
    /// - Returns: false when the client has gone away, so the caller can stop producing.
    @discardableResult
    public func writeChunk(_ data: Data) -> Bool {
        guard !data.isEmpty else { return !clientGone }
        return write(Data(String(data.count, radix: 16).utf8) + Data("\r\n".utf8) + data + Data("\r\n".utf8))
    }

    /// Ends a stream.
    public func endStream() {
        write(Data("0\r\n\r\n".utf8))
    }

    @discardableResult
    func write(_ data: Data) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        guard !closed, !failed else { return false }
        let ok = data.withUnsafeBytes { raw -> Bool in
            var off = 0
            while off < raw.count {
                let n = send(fd, raw.baseAddress! + off, raw.count - off, Int32(MSG_NOSIGNAL))
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { return false }
                off += n
            }
            return true
        }
        if !ok { failed = true }
        return ok
    }

    func close() {
        lock.lock()
        defer { lock.unlock() }
        guard !closed else { return }
        closed = true
        shutdown(fd, Int32(SHUT_WR))
        Glibc.close(fd)
    }

    static func reason(_ status: Int) -> String {
        switch status {
        case 200: "OK"
        case 400: "Bad Request"
        case 401: "Unauthorized"
        case 403: "Forbidden"
        case 408: "Request Timeout"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 411: "Length Required"
        case 413: "Content Too Large"
        case 431: "Request Header Fields Too Large"
        case 500: "Internal Server Error"
        case 503: "Service Unavailable"
        default: "Status \(status)"
        }
    }
}

/// OpenAI's error object: `{"error": {"message", "type", "param", "code"}}`.
enum OpenAIErrorBody {
    static func json(_ message: String, type: String, param: String? = nil, code: String? = nil) -> [String: Any] {
        ["error": ["message": message, "type": type, "param": param ?? NSNull(), "code": code ?? NSNull()] as [String: Any]]
    }
}
