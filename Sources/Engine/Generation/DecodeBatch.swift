import Foundation
import Tokenizer

/// Live sequences that advance together, one forward pass per step.
///
/// Sequences can join between steps (continuous batching) and leave as soon as
/// they finish or are cancelled; the rest never wait for them.
public final class DecodeBatch {
    public let context: InferenceContext
    public let tokenizer: Tokenizer
    /// Prompt tokens per forward pass while prefilling.
    public var prefillChunk = 64
    /// Speculative decoding from the prompt and the batch's other sequences; nil turns it off.
    public var speculation: PromptLookup? = PromptLookup()
    /// Rows, tokens and seconds since the batch was made (for the server's health report and benchmarks).
    public private(set) var activity = EngineActivity()
    /// Tokens accepted from drafts.
    public var acceptedDraftTokens: Int { activity.acceptedDraftTokens }
    /// Forward passes of decode steps (for benchmarks and tests).
    public private(set) var decodePasses = 0
    private(set) var slots: [Slot] = []
    /// Recent prompts' caches, frozen, so a prompt that shares their start (the
    /// system prompt and few-shot examples of every task) prefills only the rest.
    private var promptCache: [(tokens: [Int], sequence: KVSequence)] = []
    public var promptCacheEntries = 4
    /// Prompt tokens served from the cache rather than computed.
    public var reusedPromptTokens: Int { activity.cachedPromptRows }
    /// Forward passes spent prefilling prompts (for benchmarks and tests).
    public private(set) var prefillPasses = 0
    /// Asked between prefill passes whether a request was cancelled: a prompt whose requests
    /// all were stops prefilling there, so a long prompt does not hold the CPU for seconds
    /// after its caller left.
    public var isCancelled: ((Int) -> Bool)?

    public init(context: InferenceContext, tokenizer: Tokenizer) {
        self.context = context
        self.tokenizer = tokenizer
    }

    /// One sequence being decoded.
    public final class Slot {
        public let id: Int
        public let request: GenerationRequest
        let sequence: KVSequence
        var sampler: Sampler
        var processor: (any LogitsProcessor)?
        var text: TextAccumulator
        public private(set) var tokens: [GeneratedToken] = []
        public internal(set) var finish: FinishReason?
        var last = 0
        /// Set from outside to end the sequence at the next step.
        public var cancelled = false
        /// The last line end the monitor accepted: tokens kept, cache length, pending token, text bytes,
        /// and the logits processor's state there (a grammar must rewind with the text).
        var checkpoint: (tokens: Int, kv: Int, last: Int, bytes: Int, processor: (any LogitsProcessor)?)?
        /// Tokens banned at one position after a rollback there.
        var banned: (at: Int, tokens: Set<Int>)?
        public internal(set) var rollbacks = 0
        public internal(set) var rejected = 0
        public internal(set) var repairs: [TokenRepair] = []
        var lastRepairAt = -1_000_000
        var repetition = RepetitionDetector()
        public internal(set) var repetitionHits = 0
        /// The monitor judged the text where the grammar started closing (closing itself is not vetted).
        var judgedBeforeClosing = false

        /// The request's monitor while it may still roll back (after the last rollback it stays quiet).
        var monitor: (any PrefixMonitor)? {
            rollbacks < request.maxRollbacks ? request.monitor : nil
        }

        init(id: Int, request: GenerationRequest, sequence: KVSequence, processor: (any LogitsProcessor)?) {
            self.id = id
            self.request = request
            self.sequence = sequence
            var sampling = request.sampling
            if request.repair.mode == .server { sampling.minP = max(sampling.minP, request.repair.serverMinP ?? request.repair.threshold) }
            sampler = Sampler(sampling)
            self.processor = processor
            text = TextAccumulator(stop: request.stop)
        }

        public var result: GenerationResult {
            var r = GenerationResult(tokens: tokens, text: text.text, finishReason: finish ?? .length, promptTokens: request.prompt.count)
            r.rollbacks = rollbacks
            r.rejectedTokens = rejected
            r.repairs = repairs
            r.repetitionHits = repetitionHits
            return r
        }

        func append(_ t: GeneratedToken) { tokens.append(t) }

        var canRollBack: Bool { checkpoint.map { $0.tokens < tokens.count } ?? false }

        /// Returns to the checkpoint and bans the token that led out of it.
        func rollBack() {
            guard let c = checkpoint, c.tokens < tokens.count else { return }
            judgedBeforeClosing = false
            let culprit = tokens[c.tokens].id
            tokens.removeLast(tokens.count - c.tokens)
            sequence.truncate(to: c.kv)
            sampler.truncateHistory(to: c.tokens)
            text.truncate(to: c.bytes)
            last = c.last
            processor = c.processor
            var set = banned?.at == c.tokens ? banned!.tokens : []
            set.insert(culprit)
            banned = (c.tokens, set)
            rollbacks += 1
        }
    }

    /// A token event: which slot, the token, and the text it releases.
    public struct Event {
        public let slot: Slot
        public let token: GeneratedToken?
        public let delta: String
        /// Set when `token` replaced a low-confidence draw.
        public var repair: TokenRepair?
        /// How the slot ended with this event, if it did: a step that accepts drafted tokens
        /// gives one slot several events, and only the last of them ends it.
        public let finish: FinishReason?

        init(slot: Slot, token: GeneratedToken?, delta: String, repair: TokenRepair? = nil) {
            self.slot = slot
            self.token = token
            self.delta = delta
            self.repair = repair
            finish = slot.finish
        }
    }

    public var isEmpty: Bool { slots.isEmpty }
    public var liveSlots: [Slot] { slots }
    public var count: Int { slots.count }

    /// Requests that share one prompt, each with its id and logits processor.
    public typealias PromptGroup = (prompt: [Int], requests: [(id: Int, request: GenerationRequest, processor: (any LogitsProcessor)?)])

    /// Adds requests that share one prompt: it is prefilled once and every slot forks its cache.
    /// Their first tokens are sampled at once. - Returns: the new slots and their first events.
    public func add(prompt: [Int], requests: [(id: Int, request: GenerationRequest, processor: (any LogitsProcessor)?)]) -> (slots: [Slot], events: [Event]) {
        add([(prompt, requests)])
    }

    /// Adds several prompt groups at once. What their prompts do not find in the prompt cache
    /// is prefilled in shared forward passes, where rows that continue the same cached prompt
    /// read it together (ten requests with the same few-shot examples: one pass per 64 rows).
    public func add(_ groups: [PromptGroup]) -> (slots: [Slot], events: [Event]) {
        var staged = stage(groups)
        admit(&staged, logits: staged.pending.isEmpty ? [] : prefill(staged.jobs, abandoned: abandoned(staged)))
        return (staged.made, staged.events)
    }

    /// Starts the staged prompts' slots from their logits and lets the live ones into the batch.
    private func admit(_ staged: inout Staging, logits: [[Float]]) {
        flush(&staged, logits: logits)
        slots += staged.made.filter { $0.finish == nil }
    }

    /// Prompts on their way in: slots already made (with their first events) and prompts
    /// still to prefill, each with the cached sequence it continues and how much it reuses.
    private struct Staging {
        var made: [Slot] = []
        var events: [Event] = []
        var pending: [(group: PromptGroup, base: KVSequence, reused: Int)] = []
        var jobs: [(tokens: [Int], sequence: KVSequence)] { pending.map { (Array($0.group.prompt[$0.reused...]), $0.base) } }
    }

    /// Whether pending prompt `j`'s requests were all cancelled (see `isCancelled`).
    private func abandoned(_ staged: Staging) -> (Int) -> Bool {
        guard let isCancelled else { return { _ in false } }
        let ids = staged.pending.map { $0.group.requests.map(\.id) }
        return { ids[$0].allSatisfy(isCancelled) }
    }

    /// Starts the pending prompts' slots from the logits after each one's last token; a prompt
    /// without logits was abandoned while prefilling, and its slots end cancelled.
    private func flush(_ staged: inout Staging, logits: [[Float]]) {
        for (p, l) in zip(staged.pending, logits) {
            let started = l.isEmpty ? cancelled(p.group) : start(p.group, base: p.base, logits: l)
            staged.made += started.slots
            staged.events += started.events
        }
        staged.pending.removeAll()
    }

    /// Finds each group's cached start and stages the rest for prefill. A prompt that shares
    /// more with one still waiting than with the cache (a cold start: every task repeats the
    /// same few-shot examples) waits until that is prefilled and cached: one more pass costs
    /// less than computing those positions twice.
    private func stage(_ groups: [PromptGroup]) -> Staging {
        var staged = Staging()
        for group in groups {
            guard !group.prompt.isEmpty else {
                let ended = group.requests.map { r -> Slot in
                    let s = Slot(id: r.id, request: r.request, sequence: context.model.makeSequence(), processor: r.processor)
                    s.finish = .length
                    return s
                }
                staged.made += ended
                staged.events += ended.map { Event(slot: $0, token: nil, delta: "") }
                continue
            }
            let waiting = staged.pending.map { commonPrefix($0.group.prompt, group.prompt) }.max() ?? 0
            var cached = cachedPrefix(of: group.prompt)
            if waiting > cached.length + 16 {
                flush(&staged, logits: prefill(staged.jobs, abandoned: abandoned(staged)))
                cached = cachedPrefix(of: group.prompt)
            }
            let (reuse, from) = cached
            activity.cachedPromptRows += reuse
            staged.pending.append((group, context.model.makeSequence(prefix: from, prefixLength: reuse), reuse))
        }
        return staged
    }

    private func commonPrefix(_ a: [Int], _ b: [Int]) -> Int {
        zip(a, b).prefix { $0 == $1 }.count
    }

    /// The longest start of `prompt` held by a cached prompt, and the sequence to fork it from;
    /// the last token is always recomputed for its logits.
    private func cachedPrefix(of prompt: [Int]) -> (length: Int, from: KVSequence?) {
        var reuse = 0
        var from: KVSequence?
        for entry in promptCache {
            let common = commonPrefix(entry.tokens, prompt)
            if common > reuse { reuse = common; from = entry.sequence }
        }
        reuse = min(reuse, prompt.count - 1)
        if reuse < 16 { return (0, nil) }
        // Point at the oldest sequence that holds all reused positions, so chains stay short.
        while let f = from, f.start >= reuse, let older = f.prefix { from = older }
        return (reuse, from)
    }

    /// Slots for a group whose prefill was abandoned: ended, and its prompt not cached.
    private func cancelled(_ group: PromptGroup) -> (slots: [Slot], events: [Event]) {
        let slots = group.requests.map { r -> Slot in
            let s = Slot(id: r.id, request: r.request, sequence: context.model.makeSequence(), processor: r.processor)
            s.finish = .cancelled
            return s
        }
        return (slots, slots.map { Event(slot: $0, token: nil, delta: "") })
    }

    /// Caches a prefilled prompt, forks a slot per request and samples their first tokens.
    private func start(_ group: PromptGroup, base: KVSequence, logits prefilled: [Float]) -> (slots: [Slot], events: [Event]) {
        promptCache.removeAll { $0.tokens == group.prompt }
        promptCache.insert((group.prompt, base), at: 0)
        if promptCache.count > promptCacheEntries { promptCache.removeLast() }
        var logits = prefilled
        var made: [Slot] = []
        var events: [Event] = []
        let samplingStarted = EngineActivity.clock()
        defer {
            activity.samplingSeconds += EngineActivity.seconds(since: samplingStarted)
            activity.tokens += events.count { $0.token != nil }
        }
        for r in group.requests {
            // The base stays frozen for the cache; every request decodes in its own fork.
            let seq = context.model.makeSequence(prefix: base)
            let slot = Slot(id: r.id, request: r.request, sequence: seq, processor: r.processor)
            made.append(slot)
            let copy = logits
            events.append(logits.withUnsafeMutableBufferPointer { advance(slot, logits: $0) })
            logits = copy
        }
        return (made, events)
    }

    /// One forward pass over every live slot. Finished and cancelled slots leave first.
    ///
    /// Slots with a draft (see `PromptLookup`) feed it in the same pass, as many drafted rows
    /// as fill the pass's last tile; the slot then samples position after position as usual,
    /// and keeps going while what it samples is the drafted token, so a draft changes the
    /// speed, never what is sampled.
    public func step() -> [Event] {
        step(adding: [])
    }

    /// Adds prompt groups and advances the live slots. While slots are live and the new
    /// prompts' uncached rows fit one prefill chunk, those rows ride in the live slots' pass
    /// (a request joining a batch of ten: one pass of about fifty rows instead of a pass of
    /// sixteen and one of forty), and the new slots sample their first tokens from it.
    public func step(adding groups: [PromptGroup]) -> [Event] {
        let started = EngineActivity.clock()
        defer { activity.stepSeconds += EngineActivity.seconds(since: started) }
        var events: [Event] = []
        for s in slots where s.cancelled && s.finish == nil {
            s.finish = .cancelled
            events.append(Event(slot: s, token: nil, delta: s.text.flush()))
        }
        slots.removeAll { $0.finish != nil }
        var staged = stage(groups)
        let jobs = staged.jobs
        let prefillRows = jobs.reduce(0) { $0 + $1.tokens.count }
        if slots.isEmpty || prefillRows > prefillChunk {
            // Nothing to ride with, or too much to ride: prefill on its own, then step.
            admit(&staged, logits: jobs.isEmpty ? [] : prefill(jobs, abandoned: abandoned(staged)))
            return events + staged.events + (slots.isEmpty ? [] : decode(joining: []).events)
        }
        let stepped = decode(joining: jobs)
        admit(&staged, logits: stepped.prefilled)
        return events + staged.events + stepped.events
    }

    /// One pass over the live slots' rows (with drafts) and `jobs`' prompt rows after them;
    /// returns the live slots' events and the logits after each job's last token.
    private func decode(joining jobs: [(tokens: [Int], sequence: KVSequence)]) -> (events: [Event], prefilled: [[Float]]) {
        let vocab = context.model.config.vocabularySize
        var prompt: [BatchRow] = []
        for job in jobs {
            let start = job.sequence.length
            for (i, token) in job.tokens.enumerated() {
                prompt.append(BatchRow(sequence: job.sequence, token: token, position: start + i, wantsLogits: i == job.tokens.count - 1))
            }
        }
        let budget = speculation.map { $0.rowBudget(sequences: slots.count + prompt.count) } ?? 0
        var drafts = [[Int]](repeating: [], count: slots.count)
        if let lookup = speculation, budget > 0 {
            let generated = slots.map { $0.tokens.map(\.id) }
            var contexts = [Int](repeating: 0, count: slots.count)
            for (j, s) in slots.enumerated() {
                let room = min(s.request.maxTokens - s.tokens.count - 1, context.model.config.contextLength - s.sequence.length - 2)
                var others = generated
                others.remove(at: j)
                (drafts[j], contexts[j]) = lookup.lookup(prompt: s.request.prompt, generated: generated[j], others: others, limit: room)
            }
            drafts = PromptLookup.share(drafts, budget: budget, priority: contexts)
        }
        var rows: [BatchRow] = []
        var plans: [(first: Int, position: Int, draft: [Int])] = []
        for (s, draft) in zip(slots, drafts) {
            let position = s.sequence.length
            plans.append((rows.count, position, draft))
            rows.append(BatchRow(sequence: s.sequence, token: s.last, position: position, wantsLogits: true))
            for (i, t) in draft.enumerated() { rows.append(BatchRow(sequence: s.sequence, token: t, position: position + 1 + i, wantsLogits: true)) }
        }
        let decodeRows = rows.count
        // Every decode row wants logits, so a prompt's last row comes after all of them.
        let out = forward(rows + prompt, promptRows: prompt.count)
        activity.decodeRows += decodeRows
        activity.draftRows += decodeRows - slots.count
        decodePasses += 1
        if !jobs.isEmpty { prefillPasses += 1 }
        let samplingStarted = EngineActivity.clock()
        let prefilled = jobs.indices.map { n in Array(out[((decodeRows + n) * vocab)..<((decodeRows + n + 1) * vocab)]) }
        nonisolated(unsafe) let logits = UnsafeMutablePointer(mutating: out.baseAddress!)
        // Sampling touches only its own slot, so slots advance in parallel on the engine's
        // threads, which are awake from the forward pass (a dispatch queue's threads would
        // share the cores with them while they spin).
        let live = slots
        var results = [[Event]](repeating: [], count: live.count)
        results.withUnsafeMutableBufferPointer { results in
            nonisolated(unsafe) let results = results
            let work = { (j: Int) in
                let s = live[j], plan = plans[j]
                var i = 0
                while true {
                    // The cache holds what this slot has consumed so far, drafts past it aside.
                    s.sequence.truncate(to: plan.position + 1 + i)
                    s.sequence.commit(length: plan.position + 1 + i)
                    let row = plan.first + i
                    let e = self.advance(s, logits: UnsafeMutableBufferPointer(start: logits + row * vocab, count: vocab))
                    results[j].append(e)
                    guard i < plan.draft.count, s.finish == nil, let t = e.token, t.id == plan.draft[i],
                          s.sequence.length == plan.position + 1 + i else { break }
                    i += 1
                }
            }
            context.shareOut(live.count, work)
        }
        activity.samplingSeconds += EngineActivity.seconds(since: samplingStarted)
        // Every event past a slot's first came from an accepted draft token.
        activity.acceptedDraftTokens += results.reduce(0) { $0 + $1.count - 1 }
        activity.tokens += results.reduce(0) { $0 + $1.count { $0.token != nil } }
        slots.removeAll { $0.finish != nil }
        return (results.flatMap { $0 }, prefilled)
    }

    /// NaN or +infinity anywhere (-infinity is a banned token, which is fine). Branch-free over
    /// the bits so it vectorises: it runs on every row of every step.
    static func hasInvalid(_ logits: UnsafeMutableBufferPointer<Float>) -> Bool {
        var bad: UInt32 = 0
        for v in logits {
            let bits = v.bitPattern
            bad |= (bits & 0x7fff_ffff >= 0x7f80_0000 && bits != 0xff80_0000) ? 1 : 0
        }
        return bad != 0
    }

    /// Drops every slot (after a failure); returns them so callers can be told.
    public func removeAll() -> [Slot] {
        defer { slots.removeAll() }
        return slots
    }

    /// Prefills `prompt` into `sequence` in chunks; returns the logits after its last token.
    public func prefill(_ prompt: [Int], into sequence: KVSequence) -> [Float] {
        prefill([(prompt, sequence)])[0]
    }

    /// Prefills several prompts, each into its own sequence, in shared forward passes of
    /// `prefillChunk` rows; returns the logits after each one's last token. Between passes,
    /// the rest of a job that is `abandoned` is dropped, and its logits stay empty.
    func prefill(_ jobs: [(tokens: [Int], sequence: KVSequence)], abandoned: (Int) -> Bool = { _ in false }) -> [[Float]] {
        let vocab = context.model.config.vocabularySize
        var rows: [(job: Int, row: BatchRow)] = []
        for (j, job) in jobs.enumerated() {
            let start = job.sequence.length
            for (i, token) in job.tokens.enumerated() {
                rows.append((j, BatchRow(sequence: job.sequence, token: token, position: start + i, wantsLogits: i == job.tokens.count - 1)))
            }
        }
        var logits = [[Float]](repeating: [], count: jobs.count)
        var remaining = rows[...]
        var dropped = Set<Int>()
        while !remaining.isEmpty {
            if remaining.count < rows.count {
                let newly = Set(remaining.map(\.job)).filter { !dropped.contains($0) && abandoned($0) }
                if !newly.isEmpty {
                    dropped.formUnion(newly)
                    remaining = remaining.filter { !dropped.contains($0.job) }[...]
                    continue
                }
            }
            let chunk = remaining.prefix(prefillChunk)
            let out = forward(chunk.map(\.row), promptRows: chunk.count)
            prefillPasses += 1
            for (n, r) in chunk.filter(\.row.wantsLogits).enumerated() {
                logits[r.job] = Array(out[(n * vocab)..<((n + 1) * vocab)])
            }
            remaining = remaining.dropFirst(chunk.count)
        }
        return logits
    }

    /// One forward pass, counted with its prompt rows and timed.
    private func forward(_ rows: [BatchRow], promptRows: Int) -> UnsafeBufferPointer<Float> {
        let started = EngineActivity.clock()
        defer {
            activity.forwardSeconds += EngineActivity.seconds(since: started)
            activity.passes += 1
            activity.promptRows += promptRows
        }
        return context.forward(rows)
    }

    /// Shadow repair of a low-confidence draw: redraw with stricter sampling from the same
    /// distribution (the grammar or monitor still applies) until a draw clears the threshold;
    /// after the last attempt the most confident draw wins.
    func repair(_ s: Slot, token: inout GeneratedToken, raw: [Float], sampler: Sampler, processor: (any LogitsProcessor)?) -> TokenRepair? {
        let policy = s.request.repair
        var strict = sampler
        strict.parameters.temperature *= policy.temperatureFactor
        strict.parameters.topP = min(strict.parameters.topP, policy.repairTopP)
        var best = (token: token, sampler: s.sampler, processor: s.processor)
        var attempts = 0
        var cleared = false
        while attempts < policy.maxAttemptsPerToken {
            attempts += 1
            var logits = raw
            var p = processor
            var draw = strict
            let candidate = logits.withUnsafeMutableBufferPointer { draw.sample($0, processor: &p) }
            strict = draw
            strict.truncateHistory(to: sampler.history.count)
            if tokenizer.eosTokens.contains(candidate.id) { continue }
            if let monitor = s.monitor,
               case .dead = monitor.verdict(for: s.text.text + String(decoding: tokenizer.tokenBytes[candidate.id], as: UTF8.self), final: false) {
                continue
            }
            if candidate.logprob > best.token.logprob { best = (candidate, draw, p) }
            if expf(candidate.logprob) >= policy.threshold {
                cleared = true
                break
            }
        }
        guard best.token.id != token.id else { return nil }
        let r = TokenRepair(position: s.tokens.count, original: token, originalText: String(decoding: tokenizer.tokenBytes[token.id], as: UTF8.self),
                            replacement: best.token, replacementText: String(decoding: tokenizer.tokenBytes[best.token.id], as: UTF8.self),
                            attempts: attempts, cleared: cleared)
        token = best.token
        s.sampler = best.sampler
        s.processor = best.processor
        s.repairs.append(r)
        s.lastRepairAt = s.tokens.count
        return r
    }
}
