import ArgumentParser
import Foundation

/// A child `elixir-coder serve --stdio` spoken to byte by byte, with a reader thread so a lost
/// answer costs a timeout, not a hang; every bench that drives the stdio server uses it.
final class StdioServer: @unchecked Sendable {
    static let productBinary = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent().appendingPathComponent("elixir-coder")

    private let process = Process()
    private let input = Pipe(), output = Pipe()
    private let lock = NSCondition()
    private var messages: [Data] = []
    /// Whether the server closed its output: nothing more will arrive.
    private var closed = false

    /// - Parameter options: options after `serve --stdio`; by default no logs and no inference log.
    init(options: [String] = ["--log-level", "off", "--no-inference-log"]) throws {
        process.executableURL = Self.productBinary
        process.arguments = ["serve", "--stdio"] + options
        process.standardInput = input
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let handle = output.fileHandleForReading
        Thread { [self] in
            var buffer = Data()
            while true {
                let chunk = handle.availableData
                if chunk.isEmpty { break }
                buffer += chunk
                while let sep = buffer.range(of: Data("\r\n\r\n".utf8)) {
                    let header = String(decoding: buffer[buffer.startIndex..<sep.lowerBound], as: UTF8.self)
                    let n = Int(header.split(separator: ":").last?.trimmingCharacters(in: .whitespaces) ?? "") ?? 0
                    guard buffer.count - (sep.upperBound - buffer.startIndex) >= n else { break }
                    let body = Data(buffer[sep.upperBound..<(sep.upperBound + n)])
                    buffer = Data(buffer[(sep.upperBound + n)...])
                    lock.lock()
                    messages.append(body)
                    lock.broadcast()
                    lock.unlock()
                }
            }
            lock.lock()
            closed = true
            lock.broadcast()
            lock.unlock()
        }.start()
    }

    var alive: Bool { process.isRunning }

    /// The server's process id (for its memory in /proc).
    var pid: Int32 { process.processIdentifier }

    func sendRaw(_ bytes: Data) {
        try? input.fileHandleForWriting.write(contentsOf: bytes)
    }

    func send(body: String) {
        sendRaw(Data("Content-Length: \(body.utf8.count)\r\n\r\n\(body)".utf8))
    }

    /// Sends `object` as one framed JSON message.
    func send(_ object: [String: Any]) {
        send(body: String(decoding: try! JSONSerialization.data(withJSONObject: object), as: UTF8.self))
    }

    /// Takes the first message `match` accepts, waiting up to `seconds`; nil when none came in
    /// time or the server closed its output.
    private func take(seconds: Double, _ match: (Data) -> Bool) -> Data? {
        let deadline = Date().addingTimeInterval(seconds)
        lock.lock()
        defer { lock.unlock() }
        while true {
            if let i = messages.firstIndex(where: match) { return messages.remove(at: i) }
            guard !closed, lock.wait(until: deadline) else { return nil }
        }
    }

    /// The next message, whatever it is, in the order the server sent them.
    /// - Throws: when the server closed its output or sent nothing for `seconds`.
    func next(seconds: Double = 600) throws -> [String: Any] {
        guard let data = take(seconds: seconds, { _ in true }) else {
            throw ValidationError(alive ? "the server sent nothing for \(Int(seconds)) s" : "the server closed its output")
        }
        return Self.object(data) ?? [:]
    }

    /// Drops what has arrived, after waiting `seconds` for stragglers.
    func clear(after seconds: Double) {
        if seconds > 0 { Thread.sleep(forTimeInterval: seconds) }
        lock.lock()
        messages.removeAll()
        lock.unlock()
    }

    private static func object(_ d: Data) -> [String: Any]? { (try? JSONSerialization.jsonObject(with: d)) as? [String: Any] }

    /// The response to request `id`.
    func waitFor(id: Int, seconds: Double) -> [String: Any]? {
        take(seconds: seconds) { Self.object($0)?["id"] as? Int == id && Self.object($0)?["method"] == nil }.flatMap(Self.object)
    }

    /// The next error response's code.
    func nextError(seconds: Double) -> Int? {
        take(seconds: seconds) { (Self.object($0)?["error"] as? [String: Any]) != nil }.flatMap { (Self.object($0)?["error"] as? [String: Any])?["code"] as? Int }
    }

    /// Whether a message whose raw text contains `text` arrives.
    func waitForRaw(containing text: String, seconds: Double) -> Bool {
        take(seconds: seconds) { String(decoding: $0, as: UTF8.self).contains(text) } != nil
    }

    /// User plus system CPU ticks of the server so far.
    func cpuTicks() -> Int {
        guard let stat = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return 0 }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        return (Int(fields[11]) ?? 0) + (Int(fields[12]) ?? 0)
    }

    func stop() {
        send(body: #"{"jsonrpc":"2.0","id":-1,"method":"shutdown"}"#)
        send(body: #"{"jsonrpc":"2.0","method":"exit"}"#)
        try? input.fileHandleForWriting.close()
        process.waitUntilExit()
    }
}
