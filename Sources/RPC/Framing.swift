import Foundation

/// LSP-style framing: `Content-Length: N\r\n\r\n` then N bytes of JSON.
public struct MessageFramer: Sendable {
    private var buffer: [UInt8] = []

    public init() {}

    /// What the framer found in the bytes so far.
    public enum Frame: Equatable, Sendable {
        case message([UInt8])
        /// A header block without a usable Content-Length: skipped, reported as a parse error.
        case badHeader(String)
    }

    public mutating func append(_ bytes: [UInt8]) { buffer += bytes }

    /// The next complete frame, if the buffer holds one.
    public mutating func next() -> Frame? {
        let separator: [UInt8] = [13, 10, 13, 10]
        guard let end = buffer.firstRange(of: separator) else { return nil }
        let header = String(decoding: buffer[..<end.lowerBound], as: UTF8.self)
        var length: Int?
        for line in header.split(separator: "\r\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            if parts.count == 2, parts[0].trimmingCharacters(in: .whitespaces).lowercased() == "content-length" {
                length = Int(parts[1].trimmingCharacters(in: .whitespaces))
            }
        }
        guard let length, length >= 0 else {
            buffer.removeSubrange(..<end.upperBound)
            return .badHeader(header)
        }
        guard buffer.count - end.upperBound >= length else { return nil }
        let body = Array(buffer[end.upperBound..<(end.upperBound + length)])
        buffer.removeSubrange(..<(end.upperBound + length))
        return .message(body)
    }

    /// Frames one message for writing.
    public static func frame(_ body: Data) -> Data {
        Data("Content-Length: \(body.count)\r\n\r\n".utf8) + body
    }
}
