/// GPT-2's reversible map between bytes and printable Unicode scalars.
///
/// Byte-level BPE vocabularies store token text in this alphabet, so every byte
/// sequence, valid UTF-8 or not, has a spelling.
enum ByteLevel {
    /// `scalarForByte[b]` is the scalar that spells byte `b`.
    static let scalarForByte: [Unicode.Scalar] = {
        var table = [Unicode.Scalar](repeating: " ", count: 256)
        var next: UInt32 = 256
        for b in 0..<256 {
            let printable = (33...126).contains(b) || (161...172).contains(b) || (174...255).contains(b)
            if printable {
                table[b] = Unicode.Scalar(UInt32(b))!
            } else {
                table[b] = Unicode.Scalar(next)!
                next += 1
            }
        }
        return table
    }()

    /// The inverse map, for decoding a vocabulary entry into raw bytes.
    static let byteForScalar: [UInt32: UInt8] = {
        var map: [UInt32: UInt8] = [:]
        for (b, s) in scalarForByte.enumerated() { map[s.value] = UInt8(b) }
        return map
    }()

    /// The raw bytes a vocabulary entry stands for, or nil if it is not byte-level text.
    static func bytes(ofToken text: String) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(text.unicodeScalars.count)
        for s in text.unicodeScalars {
            guard let b = byteForScalar[s.value] else { return nil }
            out.append(b)
        }
        return out
    }
}
