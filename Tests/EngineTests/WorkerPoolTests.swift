import Foundation
import Synchronization
import Testing
@testable import Engine

@Suite("Engine worker pool")
struct WorkerPoolTests {
    @Test("every index runs exactly once, back to back and after the workers have parked", arguments: [2, 3, 4])
    func coverage(threads: Int) throws {
        let pool = WorkerPool(threads: threads)
        for round in 0..<400 {
            let count = [1, 2, 3, 7, 64, 1000][round % 6]
            // A guard zone after the items catches chunks that run past the end.
            let hits = UnsafeMutablePointer<Int>.allocate(capacity: count + 64)
            hits.initialize(repeating: 0, count: count + 64)
            defer { hits.deallocate() }
            nonisolated(unsafe) let h = hits
            pool.chunks(count) { range in for i in range where i < count + 64 { h[i] += 1 } }
            #expect((0..<count).allSatisfy { hits[$0] == 1 }, "round \(round), \(count) items")
            #expect((count..<(count + 64)).allSatisfy { hits[$0] == 0 }, "round \(round): a chunk ran past \(count) items")
            // Handed out one index at a time: each exactly once as well.
            pool.dynamic(count) { i in if i < count + 64 { h[i] += 1 } }
            #expect((0..<count).allSatisfy { hits[$0] == 2 }, "round \(round), \(count) items handed out")
            #expect((count..<(count + 64)).allSatisfy { hits[$0] == 0 }, "round \(round): an index past \(count) was handed out")
            // Pulled by each thread from a source until it runs dry: each exactly once again.
            pool.pulling(count) { next in while let i = next() { if i < count + 64 { h[i] += 1 } } }
            #expect((0..<count).allSatisfy { hits[$0] == 3 }, "round \(round), \(count) items pulled")
            #expect((count..<(count + 64)).allSatisfy { hits[$0] == 0 }, "round \(round): an index past \(count) was pulled")
            // Every 50 rounds, idle long enough for the workers to park.
            if round % 50 == 49 { Thread.sleep(forTimeInterval: 0.002) }
        }
    }

    @Test("chunks run on more than one thread")
    func parallel() {
        let pool = WorkerPool(threads: 2)
        let seen = Mutex<Set<UInt>>([])
        for _ in 0..<20 {
            pool.chunks(2) { _ in
                let id = UInt(pthread_self())
                seen.withLock { _ = $0.insert(id) }
                Thread.sleep(forTimeInterval: 0.001)
            }
        }
        #expect(seen.withLock { $0.count } == 2)
        let takers = Mutex<Set<UInt>>([])
        pool.dynamic(40) { _ in
            let id = UInt(pthread_self())
            takers.withLock { _ = $0.insert(id) }
            Thread.sleep(forTimeInterval: 0.001)
        }
        #expect(takers.withLock { $0.count } == 2, "both threads take indices")
        let pullers = Mutex<Set<UInt>>([])
        pool.pulling(40) { next in
            while next() != nil {
                let id = UInt(pthread_self())
                pullers.withLock { _ = $0.insert(id) }
                Thread.sleep(forTimeInterval: 0.001)
            }
        }
        #expect(pullers.withLock { $0.count } == 2, "both threads pull indices")
    }
}
