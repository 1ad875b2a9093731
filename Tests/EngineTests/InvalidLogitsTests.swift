@testable import Engine
import Foundation
import GGUF
import TestSupport
import Testing
import Tokenizer

@Suite("broken weights")
struct InvalidLogitsTests {
    @Test("a model file whose weights hold a NaN is refused at load, naming the tensor: quantized kernels would turn it into plausible garbage")
    func nanWeights() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ec-nan-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        for (tensor, offset) in [("output_norm.weight", 0), ("blk.3.ffn_up.weight", 20 * 1000 + 2)] {
            let path = dir.appendingPathComponent("nan.gguf")
            try? FileManager.default.removeItem(at: path)
            try FileManager.default.copyItem(at: URL(fileURLWithPath: TestPaths.model), to: path)
            // An F32 NaN in the final norm; an F16 NaN as the `m` scale of a Q4_1 block.
            let info = try #require(try GGUFFile(path: path.path).tensors[tensor])
            let handle = try FileHandle(forWritingTo: path)
            try handle.seek(toOffset: UInt64(info.offset + offset))
            handle.write(info.type == .f32 ? Data(withUnsafeBytes(of: Float.nan.bitPattern.littleEndian) { Array($0) }) : Data([0x00, 0x7e]))
            try handle.close()
            let file = try GGUFFile(path: path.path)
            #expect(file.firstNonFinite(info) == offset / info.type.blockBytes, "\(tensor)")
            #expect {
                _ = try LlamaModel(file: file)
            } throws: { error in
                "\(error)".contains(tensor) && "\(error)".contains("NaN")
            }
        }
        #expect(Shared.gguf.tensorOrder.allSatisfy { Shared.gguf.firstNonFinite(Shared.gguf.tensors[$0]!) == nil }, "the real model is clean")
        _ = Shared.model
    }

    @Test("NaN or +infinity in a row of logits ends the sequence (invalid_logits); -infinity, a banned token, does not")
    func detector() {
        var logits = [Float](repeating: 0.5, count: 49152)
        logits[7] = -.infinity
        #expect(!logits.withUnsafeMutableBufferPointer { DecodeBatch.hasInvalid($0) })
        logits[40000] = .nan
        #expect(logits.withUnsafeMutableBufferPointer { DecodeBatch.hasInvalid($0) })
        logits[40000] = .infinity
        #expect(logits.withUnsafeMutableBufferPointer { DecodeBatch.hasInvalid($0) })
    }
}
