import Foundation

/// LSP-style framing: `Content-Length: N\r\n\r\n` then N bytes of JSON, N counted in UTF-8 bytes.
///
/// A bad frame costs that frame only. After a header without a usable length, or a length that
/// does not match the body (a client that counted characters instead of bytes), the framer finds
/// the next header and goes on: bytes left over before a header are dropped, and a body that runs
/// into the next header ends there. Raw CR LF cannot occur inside JSON strings, so a
/// `Content-Length: N` line followed by an empty line inside a body can only be the next frame.
public struct MessageFramer: Sendable {
    private var buffer: [UInt8] = []
    /// Bodies longer than this are refused (`Frame.tooLarge`) rather than buffered.
    public let maxFrameBytes: Int

    /// A header block longer than this without its empty line is not a header.
    static let maxHeaderBytes = 8 * 1024

    public init(maxFrameBytes: Int = 64 << 20) {
        self.maxFrameBytes = maxFrameBytes
    }

    /// What the framer found in the bytes so far.
    public enum Frame: Equatable, Sendable {
        case message([UInt8])
        /// A header block without a usable Content-Length: skipped, reported as a parse error.
        case badHeader(String)
        /// A Content-Length over `maxFrameBytes`: the header is skipped and the body, when it
        /// comes, is dropped up to the next header.
        case tooLarge(Int)
    }

    public mutating func append(_ bytes: [UInt8]) { buffer += bytes }

    private static let separator: [UInt8] = Array("\r\n\r\n".utf8)

    /// The next complete frame, if the buffer holds one.
    public mutating func next() -> Frame? {
        guard let end = buffer.firstRange(of: Self.separator) else {
            if buffer.count > Self.maxHeaderBytes + maxFrameBytes {
                // Neither a header nor a body: drop it all, keeping memory bounded.
                let dropped = buffer.count
                buffer.removeAll()
                return .badHeader("\(dropped) bytes without a frame header")
            }
            return nil
        }
        let block = Array(buffer[..<end.lowerBound])
        guard let length = Self.contentLength(in: block) else {
            buffer.removeSubrange(..<end.upperBound)
            return .badHeader(String(decoding: block.suffix(200), as: UTF8.self))
        }
        if length > maxFrameBytes {
            buffer.removeSubrange(..<end.upperBound)
            return .tooLarge(length)
        }
        let start = end.upperBound
        // A body that runs into the next header ends where that header begins, complete or not.
        let available = buffer[start..<min(buffer.count, start + length)]
        if let next = Self.headerStart(in: available) {
            let body = Array(buffer[start..<next])
            buffer.removeSubrange(..<next)
            return .message(body)
        }
        guard buffer.count - start >= length else { return nil }
        let body = Array(buffer[start..<(start + length)])
        buffer.removeSubrange(..<(start + length))
        return .message(body)
    }

    /// The length in the block's last `Content-Length:` line. Only the end of the name is
    /// required, so bytes glued to its front (a previous body's overrun) do not hide it.
    static func contentLength(in block: [UInt8]) -> Int? {
        let text = String(decoding: block, as: UTF8.self).lowercased()
        guard let name = text.range(of: "length:", options: .backwards) else { return nil }
        let value = text[name.upperBound...].prefix { !$0.isNewline }.trimmingCharacters(in: .whitespaces)
        guard !value.isEmpty, value.allSatisfy(\.isASCII), value.allSatisfy(\.isNumber), let n = Int(value) else { return nil }
        return n
    }

    /// Where a `Content-Length: N` header followed by an empty line begins inside `bytes`.
    static func headerStart(in bytes: ArraySlice<UInt8>) -> Int? {
        let name = Array("content-length:".utf8)
        var from = bytes.startIndex
        while let sep = bytes[from...].firstRange(of: separator) {
            // The header's lines come just before the empty line: look back a little for the name.
            let window = Array(bytes[max(from, sep.lowerBound - 512)..<sep.lowerBound]).map { $0 >= 65 && $0 <= 90 ? $0 + 32 : $0 }
            if let at = window.ranges(of: name).last, contentLength(in: Array(window[at.lowerBound...])) != nil {
                return max(from, sep.lowerBound - 512) + at.lowerBound
            }
            from = sep.upperBound
        }
        return nil
    }

    /// Frames one message for writing.
    public static func frame(_ body: Data) -> Data {
        Data("Content-Length: \(body.count)\r\n\r\n".utf8) + body
    }
}
