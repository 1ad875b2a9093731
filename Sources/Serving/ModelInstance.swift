import Engine
import Foundation
import Tokenizer

/// Something a generation stream reports.
public enum GenerationEvent: Sendable {
    /// A token and the text it releases (may be empty while a stop sequence is pending).
    case token(GeneratedToken, String)
    /// A low-confidence draw was replaced: show `originalText`, roll it back, then the next token event follows.
    case repair(TokenRepair)
    case finished(GenerationResult)
}

/// Why the serving layer could not run a request.
public struct ServingError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Code: String, Sendable { case instanceFailed, unknownInstance, shutDown, invalidRequest }
    public let code: Code
    public let message: String
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }
    public var description: String { message }
}

/// Settings of one named model instance.
public struct InstanceSettings: Sendable {
    public var name: String
    /// Requests arriving within this window after the first are prefilled together.
    public var batchWindow: Duration = .milliseconds(3)
    public var maxBatch: Int = 16
    public var threads: Int = ProcessInfo.processInfo.activeProcessorCount
    public var kernels: KernelMode = .fast
    /// The instruction set whose kernels run (the CPU's best unless a lower one is asked for).
    public var instructionSet: InstructionSet = .host
    /// Prompt-lookup drafts for small batches; nil decodes without them.
    public var drafts: PromptLookup? = PromptLookup()

    public init(name: String) {
        self.name = name
    }
}

/// A named model instance: one thread owns its inference context and runs a
/// continuous batching loop. Requests join at the next step, up to `maxBatch`
/// live sequences; finished and cancelled ones leave without stalling the rest.
///
/// Thread-safe: the queue is guarded by a condition variable, and only the loop
/// thread touches the context (so nothing else can reach the KV cache).
public final class ModelInstance: @unchecked Sendable {
    public let settings: InstanceSettings
    public let model: LlamaModel
    public let tokenizer: Tokenizer

    /// A submitted group: requests sharing one prompt (the candidates of one task).
    struct Pending {
        let prompt: [Int]
        let members: [(request: GenerationRequest, processor: (any LogitsProcessor)?, ticket: Ticket)]
    }

    /// The caller's side of one request.
    final class Ticket: @unchecked Sendable {
        let continuation: AsyncThrowingStream<GenerationEvent, Error>.Continuation
        var cancelled = false
        init(_ c: AsyncThrowingStream<GenerationEvent, Error>.Continuation) { continuation = c }
    }

    private let lock = NSCondition()
    private var queue: [Pending] = []
    private var live = 0
    private var stopped = false
    private var failNextStep: String?
    private var thread: Thread?
    private var restartCount = 0
    /// The loop's engine figures as of its last step, failed contexts' included.
    private var reportedActivity = EngineActivity()
    /// How many times the loop rebuilt its context after a failure.
    public var restarts: Int {
        lock.lock()
        defer { lock.unlock() }
        return restartCount
    }

    public init(model: LlamaModel, tokenizer: Tokenizer, settings: InstanceSettings) {
        self.model = model
        self.tokenizer = tokenizer
        self.settings = settings
        let t = Thread { [unowned self] in self.loop() }
        t.name = "elixir-coder.\(settings.name)"
        thread = t
        t.start()
    }

    /// Rows, tokens and seconds of every forward pass since the instance started.
    public var activity: EngineActivity {
        lock.lock()
        defer { lock.unlock() }
        return reportedActivity
    }

    /// Requests waiting or decoding: the load that routing balances.
    public var load: Int {
        lock.lock()
        defer { lock.unlock() }
        return live + queue.reduce(0) { $0 + $1.members.count }
    }

    /// Streams tokens for each request; requests with the same prompt share its prefill.
    /// Cancelling the consuming task removes the request from the batch at the next step.
    public func stream(_ requests: [GenerationRequest], processors: [(any LogitsProcessor)?]? = nil) -> [AsyncThrowingStream<GenerationEvent, Error>] {
        submit(requests, processors: processors).streams
    }

    private func submit(_ requests: [GenerationRequest], processors: [(any LogitsProcessor)?]?) -> (streams: [AsyncThrowingStream<GenerationEvent, Error>], tickets: [Ticket]) {
        var tickets: [Ticket] = []
        let procs = processors ?? Array(repeating: nil, count: requests.count)
        var streams: [AsyncThrowingStream<GenerationEvent, Error>] = []
        var groups: [[Int]: [(request: GenerationRequest, processor: (any LogitsProcessor)?, ticket: Ticket)]] = [:]
        var order: [[Int]] = []
        for (i, r) in requests.enumerated() {
            var ticket: Ticket!
            let s = AsyncThrowingStream<GenerationEvent, Error> { c in ticket = Ticket(c) }
            let t = ticket!
            tickets.append(t)
            t.continuation.onTermination = { [weak self] reason in
                if case .cancelled = reason { self?.cancel(t) }
            }
            streams.append(s)
            if groups[r.prompt] == nil { order.append(r.prompt) }
            groups[r.prompt, default: []].append((r, procs[i], t))
        }
        lock.lock()
        if stopped {
            lock.unlock()
            for g in groups.values { for m in g { m.ticket.continuation.finish(throwing: ServingError(.shutDown, "instance \(settings.name) is shut down")) } }
            return (streams, tickets)
        }
        for p in order { queue.append(Pending(prompt: p, members: groups[p]!)) }
        lock.signal()
        lock.unlock()
        return (streams, tickets)
    }

    /// Runs requests to completion; results in request order.
    /// Cancelling the calling task takes every one of its requests out of the batch.
    public func generate(_ requests: [GenerationRequest], processors: [(any LogitsProcessor)?]? = nil) async throws -> [GenerationResult] {
        let (streams, tickets) = submit(requests, processors: processors)
        return try await withTaskCancellationHandler {
            var results: [GenerationResult] = []
            for s in streams {
                var result: GenerationResult?
                for try await e in s { if case .finished(let r) = e { result = r } }
                try Task.checkCancellation()
                guard let result else { throw ServingError(.instanceFailed, "instance \(settings.name) ended a request without a result") }
                results.append(result)
            }
            return results
        } onCancel: {
            for t in tickets { self.cancel(t) }
        }
    }

    /// Makes the next decode step fail, to exercise recovery (tests, fault drills).
    public func injectFailure(_ message: String = "injected failure") {
        lock.lock()
        failNextStep = message
        lock.signal()
        lock.unlock()
    }

    /// Stops the loop; queued and live requests get an error.
    public func shutdown() {
        lock.lock()
        stopped = true
        lock.signal()
        lock.unlock()
    }

    private func cancel(_ t: Ticket) {
        lock.lock()
        t.cancelled = true
        lock.unlock()
    }

    private func makeBatch() -> DecodeBatch {
        let batch = DecodeBatch(context: InferenceContext(model: model, threads: settings.threads, kernels: settings.kernels, instructionSet: settings.instructionSet), tokenizer: tokenizer)
        batch.speculation = settings.drafts
        return batch
    }

    private func loop() {
        var tickets: [Int: Ticket] = [:]
        // A cancelled request's prompt stops prefilling at the next pass.
        let makeBatch = { [self] () -> DecodeBatch in
            let batch = self.makeBatch()
            batch.isCancelled = { id in
                self.lock.lock()
                defer { self.lock.unlock() }
                return tickets[id]?.cancelled ?? false
            }
            return batch
        }
        var batch = makeBatch()
        var earlier = EngineActivity()
        var nextID = 0
        while true {
            lock.lock()
            while queue.isEmpty && batch.isEmpty && !stopped { lock.wait() }
            if stopped {
                let waiting = queue
                queue.removeAll()
                lock.unlock()
                let err = ServingError(.shutDown, "instance \(settings.name) shut down")
                for p in waiting { for m in p.members { m.ticket.continuation.finish(throwing: err) } }
                for t in tickets.values { t.continuation.finish(throwing: err) }
                return
            }
            // A short window lets requests that arrive together share the first step.
            if batch.isEmpty && !queue.isEmpty {
                lock.unlock()
                Thread.sleep(forTimeInterval: Double(settings.batchWindow.components.attoseconds) / 1e18 + Double(settings.batchWindow.components.seconds))
                lock.lock()
            }
            var admitted: [Pending] = []
            var room = settings.maxBatch - batch.count
            while let first = queue.first, room >= first.members.count || (batch.isEmpty && admitted.isEmpty) {
                admitted.append(queue.removeFirst())
                room -= first.members.count
            }
            let failure = failNextStep
            failNextStep = nil
            live = batch.count + admitted.reduce(0) { $0 + $1.members.count }
            lock.unlock()

            if let failure {
                // The context is rebuilt first, so a caller that hears of the failure finds the
                // instance restarted; then everyone in flight learns of it.
                _ = batch.removeAll()
                earlier = earlier + batch.activity
                batch = makeBatch()
                lock.lock()
                restartCount += 1
                lock.unlock()
                let err = ServingError(.instanceFailed, "instance \(settings.name) failed: \(failure); it was restarted")
                for t in tickets.values { t.continuation.finish(throwing: err) }
                for p in admitted { for m in p.members { m.ticket.continuation.finish(throwing: err) } }
                tickets.removeAll()
                continue
            }
            var groups: [DecodeBatch.PromptGroup] = []
            for p in admitted {
                let members = p.members.filter { !$0.ticket.cancelled }
                for m in p.members where m.ticket.cancelled {
                    m.ticket.continuation.finish(throwing: CancellationError())
                }
                guard !members.isEmpty else { continue }
                var ids: [(id: Int, request: GenerationRequest, processor: (any LogitsProcessor)?)] = []
                for m in members {
                    tickets[nextID] = m.ticket
                    ids.append((nextID, m.request, m.processor))
                    nextID += 1
                }
                groups.append((p.prompt, ids))
            }
            lock.lock()
            for t in tickets.values where t.cancelled {
                for s in batch.liveSlots where tickets[s.id] === t { s.cancelled = true }
            }
            lock.unlock()
            // Prompts admitted together prefill together, in the live slots' pass when they fit.
            let events = batch.step(adding: groups)
            // Finished slots already left the batch; say so before their callers hear of it.
            lock.lock()
            live = batch.count
            reportedActivity = earlier + batch.activity
            lock.unlock()
            for e in events {
                guard let t = tickets[e.slot.id] else { continue }
                if let r = e.repair { t.continuation.yield(.repair(r)) }
                if let tok = e.token, e.finish != .endOfText { t.continuation.yield(.token(tok, e.delta)) }
                if e.finish != nil {
                    if e.finish == .cancelled {
                        t.continuation.finish(throwing: CancellationError())
                    } else {
                        t.continuation.yield(.finished(e.slot.result))
                        t.continuation.finish()
                    }
                    tickets[e.slot.id] = nil
                }
            }
        }
    }
}
