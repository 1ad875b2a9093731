import CZlib
import Foundation

/// gzip streams through zlib (windowBits 31 selects the gzip wrapper).
public enum Gzip {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    public static func compress(_ data: Data, level: Int32 = 6) throws -> Data {
        var stream = z_stream()
        guard deflateInit2_(&stream, level, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw Failure(description: "gzip: cannot initialize the compressor")
        }
        defer { deflateEnd(&stream) }
        var out = Data(count: Int(deflateBound(&stream, UInt(data.count))) + 32)
        let written: Int = try data.withUnsafeBytes { (input: UnsafeRawBufferPointer) in
            try out.withUnsafeMutableBytes { (output: UnsafeMutableRawBufferPointer) in
                stream.next_in = UnsafeMutablePointer(mutating: input.bindMemory(to: Bytef.self).baseAddress)
                stream.avail_in = uInt(input.count)
                stream.next_out = output.bindMemory(to: Bytef.self).baseAddress
                stream.avail_out = uInt(output.count)
                guard deflate(&stream, Z_FINISH) == Z_STREAM_END else { throw Failure(description: "gzip: compression did not finish") }
                return Int(stream.total_out)
            }
        }
        return out.prefix(written)
    }

    public static func decompress(_ data: Data) throws -> Data {
        var stream = z_stream()
        guard inflateInit2_(&stream, 31, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw Failure(description: "gzip: cannot initialize the decompressor")
        }
        defer { inflateEnd(&stream) }
        var result = Data()
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        try data.withUnsafeBytes { (input: UnsafeRawBufferPointer) in
            stream.next_in = UnsafeMutablePointer(mutating: input.bindMemory(to: Bytef.self).baseAddress)
            stream.avail_in = uInt(input.count)
            while true {
                let rc = chunk.withUnsafeMutableBufferPointer { buf -> Int32 in
                    stream.next_out = buf.baseAddress
                    stream.avail_out = uInt(buf.count)
                    return inflate(&stream, Z_NO_FLUSH)
                }
                result.append(contentsOf: chunk[0..<(chunk.count - Int(stream.avail_out))])
                if rc == Z_STREAM_END { return }
                guard rc == Z_OK else { throw Failure(description: "gzip: not a valid gzip stream (zlib error \(rc))") }
                if stream.avail_in == 0 && stream.avail_out != 0 { throw Failure(description: "gzip: the stream is truncated") }
            }
        }
        return result
    }
}
