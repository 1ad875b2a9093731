/// Turns generated token bytes into text deltas that are safe to show:
/// complete UTF-8 only, and never the start of a stop sequence that may still match.
public struct TextAccumulator: Sendable {
    public let stop: [[UInt8]]
    public private(set) var bytes: [UInt8] = []
    /// Bytes already released as deltas.
    private var released = 0
    /// Set once a stop sequence matched: the text ends before it.
    public private(set) var stoppedAt: Int?

    public init(stop: [String]) {
        self.stop = stop.map { Array($0.utf8) }.filter { !$0.isEmpty }
    }

    /// Appends a token's bytes; returns the newly releasable text.
    public mutating func append(_ piece: [UInt8]) -> String {
        guard stoppedAt == nil else { return "" }
        bytes += piece
        // Look for a stop sequence that ends in the new bytes.
        for s in stop {
            let from = max(0, bytes.count - piece.count - s.count + 1)
            if let at = find(s, from: from) {
                stoppedAt = at
                return release(upTo: at)
            }
        }
        // Hold back a tail that could still grow into a stop sequence.
        var hold = 0
        for s in stop {
            for k in stride(from: min(s.count - 1, bytes.count), to: 0, by: -1) where bytes.suffix(k).elementsEqual(s.prefix(k)) {
                hold = max(hold, k)
                break
            }
        }
        return release(upTo: bytes.count - hold)
    }

    /// Forgets everything after the first `count` bytes (a rollback). Text already
    /// released stays released; callers that stream are told separately.
    public mutating func truncate(to count: Int) {
        guard count < bytes.count else { return }
        bytes.removeLast(bytes.count - count)
        released = min(released, count)
        stoppedAt = nil
    }

    /// Releases whatever is held back (at the end of a generation).
    public mutating func flush() -> String {
        release(upTo: stoppedAt ?? bytes.count, final: true)
    }

    /// The final text.
    public var text: String {
        String(decoding: bytes[..<(stoppedAt ?? bytes.count)], as: UTF8.self)
    }

    private func find(_ s: [UInt8], from: Int) -> Int? {
        guard bytes.count >= s.count else { return nil }
        var i = from
        while i + s.count <= bytes.count {
            if bytes[i..<(i + s.count)].elementsEqual(s) { return i }
            i += 1
        }
        return nil
    }

    private mutating func release(upTo end: Int, final: Bool = false) -> String {
        var end = end
        if !final {
            // Do not cut a UTF-8 sequence: back off to the start of an incomplete one.
            var i = end - 1
            var back = 0
            while i >= released && back < 4 && bytes[i] & 0xC0 == 0x80 { i -= 1; back += 1 }
            if i >= released {
                let lead = bytes[i]
                let need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1
                if end - i < need { end = i }
            }
        }
        guard end > released else { return "" }
        let s = String(decoding: bytes[released..<end], as: UTF8.self)
        released = end
        return s
    }
}
