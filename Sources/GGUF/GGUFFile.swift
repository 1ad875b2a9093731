import Foundation

/// A tensor's entry in the GGUF tensor table.
public struct GGUFTensorInfo: Sendable {
    public let name: String
    /// Dimensions in ggml order: `shape[0]` is the contiguous (row) length.
    public let shape: [Int]
    public let type: GGMLType
    /// Absolute byte offset of the data in the file.
    public let offset: Int
    public let byteCount: Int

    public var elementCount: Int { shape.reduce(1, *) }
}

/// A memory-mapped GGUF v2/v3 file: metadata, tensor table and raw tensor bytes.
///
/// Every read is bounds-checked against the file size, so a truncated or corrupt
/// file gives a `GGUFError` naming the problem instead of a crash.
public final class GGUFFile: @unchecked Sendable {
    public let path: String
    public let version: UInt32
    public let metadata: [String: GGUFValue]
    public let tensors: [String: GGUFTensorInfo]
    /// Tensor names in file order.
    public let tensorOrder: [String]
    public let alignment: Int
    public let fileSize: Int
    /// Base of the mapping; valid for the life of this object.
    public let base: UnsafeRawPointer

    public init(path: String) throws {
        self.path = path
        let (pointer, size) = try Self.map(path)
        base = UnsafeRawPointer(pointer)
        fileSize = size
        // From here on the mapping must be released if the header is bad.
        var ok = false
        defer { if !ok { munmap(pointer, size) } }

        var reader = GGUFReader(base: base, size: fileSize, path: path)
        let magic = try reader.read(UInt32.self, "magic")
        guard magic == 0x4655_4747 else {
            throw GGUFError(.badMagic, path: path, "not a GGUF file (magic bytes are \(String(format: "0x%08x", magic)), expected \"GGUF\")")
        }
        version = try reader.read(UInt32.self, "version")
        guard version == 2 || version == 3 else {
            throw GGUFError(.unsupportedVersion, path: path, "GGUF version \(version) is not supported (only 2 and 3)")
        }
        let tensorCount = try reader.count("tensor count")
        let kvCount = try reader.count("metadata count")

        var meta: [String: GGUFValue] = [:]
        for i in 0..<kvCount {
            let key = try reader.string("metadata key #\(i)")
            let type = try reader.read(UInt32.self, "type of \(key)")
            meta[key] = try reader.value(type: type, context: key)
        }
        metadata = meta
        let align = meta["general.alignment"]?.intValue ?? 32
        guard align > 0, align & (align - 1) == 0 else {
            throw GGUFError(.corrupt, path: path, "general.alignment \(align) is not a power of two")
        }
        alignment = align

        var infos: [(String, [Int], GGMLType, Int)] = []
        for i in 0..<tensorCount {
            let name = try reader.string("tensor name #\(i)")
            let dims = Int(try reader.read(UInt32.self, "dimension count of \(name)"))
            guard (1...4).contains(dims) else {
                throw GGUFError(.corrupt, path: path, "tensor \(name) has \(dims) dimensions (expected 1 to 4)")
            }
            var shape: [Int] = []
            for _ in 0..<dims {
                let d = try reader.read(UInt64.self, "shape of \(name)")
                guard d > 0, d < 1 << 32 else { throw GGUFError(.corrupt, path: path, "tensor \(name) has dimension \(d)") }
                shape.append(Int(d))
            }
            let rawType = try reader.read(UInt32.self, "type of \(name)")
            guard let type = GGMLType(rawValue: rawType) else {
                throw GGUFError(.unsupportedTensorType, path: path, "tensor \(name) has ggml type \(rawType), which this engine does not support (F32, F16, Q4_0, Q4_1, Q8_0)")
            }
            let off = try reader.read(UInt64.self, "offset of \(name)")
            guard off < UInt64(Int.max) else { throw GGUFError(.corrupt, path: path, "tensor \(name) offset \(off) is out of range") }
            infos.append((name, shape, type, Int(off)))
        }
        let dataStart = (reader.position + align - 1) / align * align

        var table: [String: GGUFTensorInfo] = [:]
        var order: [String] = []
        for (name, shape, type, rel) in infos {
            guard shape[0] % type.blockSize == 0 else {
                throw GGUFError(.corrupt, path: path, "tensor \(name) row length \(shape[0]) is not a multiple of the \(type.name) block size \(type.blockSize)")
            }
            let count = shape.reduce(1, *)
            let bytes = count / type.blockSize * type.blockBytes
            let start = dataStart + rel
            guard rel % align == 0 else {
                throw GGUFError(.corrupt, path: path, "tensor \(name) offset \(rel) is not aligned to \(align)")
            }
            guard start + bytes <= fileSize else {
                throw GGUFError(.truncated, path: path, "tensor \(name) needs bytes \(start)..<\(start + bytes) but the file has \(fileSize) bytes (truncated?)")
            }
            guard table[name] == nil else { throw GGUFError(.corrupt, path: path, "tensor \(name) appears twice") }
            table[name] = GGUFTensorInfo(name: name, shape: shape, type: type, offset: start, byteCount: bytes)
            order.append(name)
        }
        tensors = table
        tensorOrder = order
        ok = true
    }

    deinit {
        munmap(UnsafeMutableRawPointer(mutating: base), fileSize)
    }

    private static func map(_ path: String) throws -> (UnsafeMutableRawPointer, Int) {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else {
            throw GGUFError(.unreadable, path: path, "cannot open the file (\(String(cString: strerror(errno))))")
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
            throw GGUFError(.unreadable, path: path, "not a regular file")
        }
        let size = Int(st.st_size)
        guard size > 0 else { throw GGUFError(.truncated, path: path, "the file is empty") }
        guard let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), p != MAP_FAILED else {
            throw GGUFError(.unreadable, path: path, "cannot map the file (\(String(cString: strerror(errno))))")
        }
        return (p, size)
    }

    /// The raw bytes of a tensor.
    public func pointer(to tensor: GGUFTensorInfo) -> UnsafeRawPointer {
        base + tensor.offset
    }

    /// A required tensor, or an error naming it.
    /// The index of the first block whose value (F32, F16) or scales (the F16 `d`, and `m` of
    /// Q4_1, that open each quantized block) are NaN or infinite; nil when all are finite.
    /// Quantized matrices turn a NaN into plausible garbage, so broken weights are caught here.
    public func firstNonFinite(_ tensor: GGUFTensorInfo) -> Int? {
        let p = pointer(to: tensor)
        let type = tensor.type
        let blocks = tensor.byteCount / type.blockBytes
        // An F16 is NaN or infinite when its exponent bits are all set; an F32 likewise.
        func badHalf(_ offset: Int) -> Bool { p.loadUnaligned(fromByteOffset: offset, as: UInt16.self) & 0x7c00 == 0x7c00 }
        for b in 0..<blocks {
            let at = b * type.blockBytes
            let bad: Bool
            switch type {
            case .f32: bad = p.loadUnaligned(fromByteOffset: at, as: UInt32.self) & 0x7f80_0000 == 0x7f80_0000
            case .f16, .q4_0, .q8_0: bad = badHalf(at)
            case .q4_1: bad = badHalf(at) || badHalf(at + 2)
            }
            if bad { return b }
        }
        return nil
    }

    public func tensor(_ name: String) throws -> GGUFTensorInfo {
        guard let t = tensors[name] else { throw GGUFError(.missingTensor, path: path, "tensor \(name) is missing") }
        return t
    }

    public func int(_ key: String) throws -> Int {
        guard let v = metadata[key]?.intValue else { throw GGUFError(.missingKey, path: path, "metadata key \(key) is missing or not an integer") }
        return v
    }

    public func float(_ key: String) throws -> Double {
        guard let v = metadata[key]?.floatValue else { throw GGUFError(.missingKey, path: path, "metadata key \(key) is missing or not a number") }
        return v
    }

    public func string(_ key: String) throws -> String {
        guard let v = metadata[key]?.stringValue else { throw GGUFError(.missingKey, path: path, "metadata key \(key) is missing or not a string") }
        return v
    }

    public func strings(_ key: String) throws -> [String] {
        guard let a = metadata[key]?.arrayValue else { throw GGUFError(.missingKey, path: path, "metadata key \(key) is missing or not an array") }
        return try a.map {
            guard let s = $0.stringValue else { throw GGUFError(.corrupt, path: path, "metadata \(key) holds a non-string") }
            return s
        }
    }

    public func ints(_ key: String) throws -> [Int] {
        guard let a = metadata[key]?.arrayValue else { throw GGUFError(.missingKey, path: path, "metadata key \(key) is missing or not an array") }
        return try a.map {
            guard let s = $0.intValue else { throw GGUFError(.corrupt, path: path, "metadata \(key) holds a non-integer") }
            return s
        }
    }
}

/// A bounds-checked cursor over the GGUF header.
struct GGUFReader {
    let base: UnsafeRawPointer
    let size: Int
    let path: String
    var position = 0

    mutating func read<T: FixedWidthInteger>(_: T.Type, _ what: String) throws -> T {
        let n = MemoryLayout<T>.size
        guard position + n <= size else {
            throw GGUFError(.truncated, path: path, "file ends at byte \(size) while reading \(what) (truncated?)")
        }
        let v = base.loadUnaligned(fromByteOffset: position, as: T.self)
        position += n
        return T(littleEndian: v)
    }

    mutating func count(_ what: String) throws -> Int {
        let v = try read(UInt64.self, what)
        // Each entry takes at least 8 bytes, so a count above size/8 cannot be real.
        guard v <= UInt64(size / 8) else {
            throw GGUFError(.corrupt, path: path, "\(what) \(v) is impossible for a file of \(size) bytes")
        }
        return Int(v)
    }

    mutating func string(_ what: String) throws -> String {
        let n = try read(UInt64.self, "length of \(what)")
        guard n <= UInt64(size - position) else {
            throw GGUFError(.truncated, path: path, "\(what) claims \(n) bytes but the file ends at byte \(size) (truncated?)")
        }
        let bytes = UnsafeRawBufferPointer(start: base + position, count: Int(n))
        position += Int(n)
        return String(decoding: bytes, as: UTF8.self)
    }

    mutating func value(type: UInt32, context: String, depth: Int = 0) throws -> GGUFValue {
        switch type {
        case 0: return .uint(UInt64(try read(UInt8.self, context)))
        case 1: return .int(Int64(try read(Int8.self, context)))
        case 2: return .uint(UInt64(try read(UInt16.self, context)))
        case 3: return .int(Int64(try read(Int16.self, context)))
        case 4: return .uint(UInt64(try read(UInt32.self, context)))
        case 5: return .int(Int64(try read(Int32.self, context)))
        case 6: return .float(Double(Float(bitPattern: try read(UInt32.self, context))))
        case 7:
            let b = try read(UInt8.self, context)
            guard b <= 1 else { throw GGUFError(.corrupt, path: path, "\(context): bool value \(b)") }
            return .bool(b == 1)
        case 8: return .string(try string(context))
        case 9:
            guard depth < 4 else { throw GGUFError(.corrupt, path: path, "\(context): arrays nested too deeply") }
            let elementType = try read(UInt32.self, context)
            let n = try read(UInt64.self, "length of \(context)")
            guard n <= UInt64(size - position) else {
                throw GGUFError(.truncated, path: path, "\(context) claims \(n) elements but the file ends at byte \(size) (truncated?)")
            }
            var out: [GGUFValue] = []
            out.reserveCapacity(Int(n))
            for _ in 0..<n { out.append(try value(type: elementType, context: context, depth: depth + 1)) }
            return .array(out)
        case 10: return .uint(try read(UInt64.self, context))
        case 11: return .int(try read(Int64.self, context))
        case 12: return .float(Float64(bitPattern: try read(UInt64.self, context)))
        default:
            throw GGUFError(.corrupt, path: path, "\(context): unknown metadata value type \(type)")
        }
    }
}
