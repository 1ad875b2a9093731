import Testing
@testable import Engine

@Suite("Quantized block order")
struct BlockOrderTests {
    @Test("the stored order is a permutation of the 32 elements, its own inverse, keeping Q4 nibble pairs together")
    func permutation() {
        let order = (0..<32).map(BlockOrder.element)
        #expect(Set(order) == Set(0..<32))
        #expect((0..<32).allSatisfy { BlockOrder.element(BlockOrder.element($0)) == $0 })
        // A Q4 byte at position s holds elements element(s) and element(s) + 16.
        #expect((0..<16).allSatisfy { BlockOrder.element($0 + 16) == BlockOrder.element($0) + 16 })
    }

    @Test("lane sums are llama.cpp's eight groups of four neighbouring products")
    func laneSums() {
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<50 {
            let packed = (0..<16).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let weights8 = (0..<32).map { _ in Int8.random(in: -127...127, using: &rng) }
            let x = (0..<32).map { _ in Int8.random(in: -127...127, using: &rng) }
            let nibbles = (0..<32).map { e in Int32(e < 16 ? packed[e] & 0xF : packed[e - 16] >> 4) }
            var expectedQ4 = [Float](repeating: 0, count: 8), expectedQ8 = expectedQ4
            for e in 0..<32 {
                expectedQ4[e / 4] += Float(nibbles[e] * Int32(x[e]))
                expectedQ8[e / 4] += Float(Int32(weights8[e]) * Int32(x[e]))
            }
            // Stored as the kernels see them.
            let storedPacked = (0..<16).map { packed[BlockOrder.element($0)] }
            let storedW8 = (0..<32).map { weights8[BlockOrder.element($0)] }
            let storedX = (0..<32).map { x[BlockOrder.element($0)] }
            let q4 = storedPacked.withUnsafeBufferPointer { w in storedX.withUnsafeBufferPointer { laneDotsQ4(w.baseAddress!, $0.baseAddress!) } }
            let q8 = storedW8.withUnsafeBufferPointer { w in storedX.withUnsafeBufferPointer { laneDotsQ8(w.baseAddress!, $0.baseAddress!) } }
            #expect((0..<8).map { q4[$0] } == expectedQ4)
            #expect((0..<8).map { q8[$0] } == expectedQ8)
        }
    }
}
