/// Splits a byte stream into server-sent events (the WHATWG `text/event-stream` format).
///
/// Only the fields the completion APIs use are kept: `data` (lines joined with a newline)
/// and `event`; llama.cpp also writes `error: {...}` lines, kept as their own event.
package struct ServerSentEventParser: Sendable {
    /// One dispatched event.
    package struct Event: Sendable, Equatable {
        package var event: String?
        package var data: String
        /// Set when the event came from a non-standard `error:` line.
        package var isError = false
    }

    private var buffer: [UInt8] = []
    private var dataLines: [String] = []
    private var eventName: String?
    private var pendingCR = false

    package init() {}

    /// Feeds bytes; returns the events they complete.
    package mutating func append(_ bytes: some Sequence<UInt8>) -> [Event] {
        var events: [Event] = []
        for b in bytes {
            // Lines end with CRLF, LF or CR.
            if pendingCR {
                pendingCR = false
                if b == 0x0A { continue }
            }
            if b == 0x0A || b == 0x0D {
                pendingCR = b == 0x0D
                if let e = line(String(decoding: buffer, as: UTF8.self)) { events.append(e) }
                buffer.removeAll(keepingCapacity: true)
            } else {
                buffer.append(b)
            }
        }
        return events
    }

    /// The event left when the stream closes without a final blank line.
    package mutating func finish() -> Event? {
        if !buffer.isEmpty {
            let rest = String(decoding: buffer, as: UTF8.self)
            buffer.removeAll()
            if let e = line(rest) { return e }
        }
        return line("")
    }

    private mutating func line(_ line: String) -> Event? {
        if line.isEmpty {
            defer {
                dataLines.removeAll()
                eventName = nil
            }
            guard !dataLines.isEmpty else { return nil }
            return Event(event: eventName, data: dataLines.joined(separator: "\n"))
        }
        if line.hasPrefix(":") { return nil }
        let field: Substring, value: Substring
        if let colon = line.firstIndex(of: ":") {
            field = line[..<colon]
            var v = line[line.index(after: colon)...]
            if v.first == " " { v = v.dropFirst() }
            value = v
        } else {
            field = line[...]
            value = ""
        }
        switch field {
        case "data": dataLines.append(String(value))
        case "event": eventName = String(value)
        case "error": return Event(event: "error", data: String(value), isError: true)
        default: break
        }
        return nil
    }
}
