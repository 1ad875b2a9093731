import Dispatch
import Foundation
import Synchronization

/// Threads that run the parallel regions of forward passes, staying awake between them.
///
/// A decode step of a small model has a few hundred parallel regions of tens of
/// microseconds each; parking and waking a thread for every one of them (what
/// `DispatchQueue.concurrentPerform` does) costs as much as the work itself on a
/// virtual machine. Workers here spin for a short while after each region and park
/// only when the engine has been idle longer than that.
final class WorkerPool: Sendable {
    let threads: Int
    private let shared: PoolState

    /// - Parameter threads: threads taking part, the caller's included.
    init(threads: Int) {
        // One bit per worker in the parked mask.
        self.threads = min(max(1, threads), Int.bitWidth)
        shared = PoolState(workers: self.threads - 1)
        for w in 0..<(self.threads - 1) {
            let state = shared
            let thread = Thread { state.work(as: w) }
            thread.name = "elixir-coder.engine.\(w + 1)"
            thread.start()
        }
    }

    deinit { shared.stop() }

    /// Splits `0..<count` into one contiguous chunk per thread and runs them at once;
    /// the caller runs the first chunk.
    func chunks(_ count: Int, _ body: (Range<Int>) -> Void) {
        let n = min(threads, count)
        if n <= 1 {
            body(0..<count)
            return
        }
        withoutActuallyEscaping(body) { body in
            shared.run { t in
                guard t < n else { return }
                let lo = count * t / n, hi = count * (t + 1) / n
                if lo < hi { body(lo..<hi) }
            }
        }
    }

    /// Like `dynamic`, but each thread calls `body` once with a source of indices (nil when
    /// none are left), so it can set up its scratch space once for all the indices it takes.
    func pulling(_ count: Int, _ body: (_ next: () -> Int?) -> Void) {
        let n = min(threads, count)
        guard n > 1 else {
            var i = 0
            body { defer { i += 1 }; return i < count ? i : nil }
            return
        }
        let next = Counter()
        withoutActuallyEscaping(body) { body in
            shared.run { t in
                guard t < n else { return }
                body {
                    let i = next.value.add(1, ordering: .relaxed).oldValue
                    return i < count ? i : nil
                }
            }
        }
    }

    /// Runs `body(i)` for every i in `0..<count`, each thread taking the next index as it gets
    /// free: when another process holds a core for a while (the checkers' Elixir VM, say),
    /// the threads still running take over its share instead of waiting for it.
    func dynamic(_ count: Int, _ body: (Int) -> Void) {
        pulling(count) { next in while let i = next() { body(i) } }
    }
}

private final class Counter: Sendable {
    let value = Atomic<Int>(0)
}

/// What the caller and the workers share: the current job, its generation, and who is parked.
private final class PoolState: @unchecked Sendable {
    let workers: Int
    private let generation = Atomic<Int>(0)
    private let remaining = Atomic<Int>(0)
    private let stopping = Atomic<Bool>(false)
    /// Bit `w` set: worker `w` is parked on `wakeups[w]`.
    private let parked = Atomic<Int>(0)
    private let wakeups: [DispatchSemaphore]
    /// Written by the caller before it bumps `generation`, read by workers after they see it.
    private var job: (Int) -> Void = { _ in }
    /// How long an idle worker spins before it parks.
    private let spinNanoseconds: UInt64 = 200_000

    init(workers: Int) {
        self.workers = workers
        wakeups = (0..<workers).map { _ in DispatchSemaphore(value: 0) }
    }

    /// Runs `job(0)` here and `job(w + 1)` on each worker; returns when all are done.
    func run(_ job: @escaping (Int) -> Void) {
        self.job = job
        remaining.store(workers, ordering: .relaxed)
        generation.add(1, ordering: .sequentiallyConsistent)
        wakeParked()
        job(0)
        while remaining.load(ordering: .acquiring) != 0 {}
        self.job = { _ in }
    }

    func stop() {
        stopping.store(true, ordering: .sequentiallyConsistent)
        generation.add(1, ordering: .sequentiallyConsistent)
        wakeParked()
    }

    private func wakeParked() {
        let mask = parked.exchange(0, ordering: .sequentiallyConsistent)
        for w in 0..<workers where mask & (1 << w) != 0 { wakeups[w].signal() }
    }

    func work(as w: Int) {
        var seen = 0
        while true {
            var spins = 0
            var deadline: UInt64 = 0
            while generation.load(ordering: .acquiring) == seen {
                spins &+= 1
                guard spins & 255 == 0 else { continue }
                let now = DispatchTime.now().uptimeNanoseconds
                if deadline == 0 {
                    deadline = now + spinNanoseconds
                } else if now > deadline {
                    park(w, seen: seen)
                    deadline = 0
                }
            }
            seen = generation.load(ordering: .acquiring)
            if stopping.load(ordering: .acquiring) { return }
            job(w + 1)
            remaining.subtract(1, ordering: .releasing)
        }
    }

    /// Sleeps until the next job. The flag is raised before the generation is read
    /// again, so a job published in between either is seen here or wakes this worker.
    private func park(_ w: Int, seen: Int) {
        parked.bitwiseOr(1 << w, ordering: .sequentiallyConsistent)
        if generation.load(ordering: .sequentiallyConsistent) != seen {
            // Lowered it ourselves: nobody signals. Lowered by the caller: take its signal.
            let before = parked.bitwiseAnd(~(1 << w), ordering: .sequentiallyConsistent).oldValue
            if before & (1 << w) == 0 { wakeups[w].wait() }
            return
        }
        wakeups[w].wait()
    }
}
