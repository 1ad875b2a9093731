import TestSupport
import Foundation
import GGUF
import Testing

/// Writes small GGUF files so each failure mode can be produced on purpose.
struct GGUFWriter {
    var bytes: [UInt8] = []

    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
    mutating func string(_ s: String) { u64(UInt64(s.utf8.count)); bytes += Array(s.utf8) }

    /// A file with one string key and one tensor of `type`, `shape`, at data offset `offset`.
    static func make(magic: UInt32 = 0x4655_4747, version: UInt32 = 3, arch: String = "llama", type: UInt32 = 0,
                     shape: [UInt64] = [32], offset: UInt64 = 0, dataBytes: Int = 128) -> [UInt8] {
        var w = GGUFWriter()
        w.u32(magic)
        w.u32(version)
        w.u64(1)  // tensors
        w.u64(1)  // metadata
        w.string("general.architecture")
        w.u32(8)
        w.string(arch)
        w.string("t")
        w.u32(UInt32(shape.count))
        for d in shape { w.u64(d) }
        w.u32(type)
        w.u64(offset)
        while w.bytes.count % 32 != 0 { w.bytes.append(0) }
        w.bytes += [UInt8](repeating: 0, count: dataBytes)
        return w.bytes
    }
}

@Suite("GGUF reader errors")
struct GGUFErrorTests {
    func write(_ bytes: [UInt8], _ name: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("ec-\(name)-\(UUID().uuidString).gguf").path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    func expectError(_ bytes: [UInt8], _ code: GGUFError.Code, mentions: String) throws {
        let path = try write(bytes, "\(code)")
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            _ = try GGUFFile(path: path)
            Issue.record("expected \(code)")
        } catch let e as GGUFError {
            #expect(e.code == code)
            #expect(e.description.contains(path), "the message names the file")
            #expect(e.description.contains(mentions), "\(e.description)")
        }
    }

    @Test func wellFormedSmallFileReads() throws {
        let path = try write(GGUFWriter.make(), "ok")
        let f = try GGUFFile(path: path)
        #expect(f.metadata["general.architecture"] == .string("llama"))
        #expect(try f.tensor("t").shape == [32])
    }

    @Test func wrongMagic() throws { try expectError(GGUFWriter.make(magic: 0x1234_5678), .badMagic, mentions: "not a GGUF file") }
    @Test func unsupportedVersion() throws { try expectError(GGUFWriter.make(version: 9), .unsupportedVersion, mentions: "version 9") }
    @Test func unknownTensorType() throws { try expectError(GGUFWriter.make(type: 99), .unsupportedTensorType, mentions: "ggml type 99") }
    @Test func offsetPastTheEnd() throws { try expectError(GGUFWriter.make(offset: 4096), .truncated, mentions: "tensor t needs bytes") }
    @Test func emptyFile() throws { try expectError([], .truncated, mentions: "empty") }
    @Test func truncatedHeader() throws {
        try expectError(Array(GGUFWriter.make().prefix(40)), .truncated, mentions: "truncated")
    }

    @Test func truncatedRealModel() throws {
        // The real model cut in half: the header reads, the tensor table points past the end.
        let data = try Data(contentsOf: URL(fileURLWithPath: TestPaths.model))
        try expectError(Array(data.prefix(data.count / 2)), .truncated, mentions: "truncated")
    }

    @Test func missingFile() throws {
        #expect(throws: GGUFError.self) { try GGUFFile(path: "/nonexistent/model.gguf") }
    }

    @Test func unknownArchitecture() throws {
        let path = try write(GGUFWriter.make(arch: "mamba"), "arch")
        let f = try GGUFFile(path: path)
        #expect { try LlamaConfigProbe.load(f) } throws: { e in
            (e as? GGUFError)?.code == .unsupportedArchitecture && "\(e)".contains("mamba")
        }
    }
}
