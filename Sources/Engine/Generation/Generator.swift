import Tokenizer

/// Runs generation requests on one inference context, batching their decode steps.
///
/// Requests with the same prompt prefill it once and share its cache entries
/// (the N candidates of one task cost one prefill).
public final class Generator {
    public let context: InferenceContext
    public let tokenizer: Tokenizer
    /// Prompt tokens per forward pass while prefilling.
    public var prefillChunk = 64

    public init(context: InferenceContext, tokenizer: Tokenizer) {
        self.context = context
        self.tokenizer = tokenizer
    }

    /// Per-sequence decoding state.
    final class Slot {
        let index: Int
        let request: GenerationRequest
        let sequence: KVSequence
        var sampler: Sampler
        var processor: (any LogitsProcessor)?
        var text: TextAccumulator
        var tokens: [GeneratedToken] = []
        var finish: FinishReason?
        var last = 0

        init(index: Int, request: GenerationRequest, sequence: KVSequence, processor: (any LogitsProcessor)?) {
            self.index = index
            self.request = request
            self.sequence = sequence
            sampler = Sampler(request.sampling)
            self.processor = processor
            text = TextAccumulator(stop: request.stop)
        }
    }

    /// Generates for every request at once; results come back in request order.
    /// - Parameters:
    ///   - processors: an optional logits processor per request (grammar masks and the like).
    ///   - onToken: sees each token with the text it releases; returning `.stop` ends that request.
    public func generate(
        _ requests: [GenerationRequest],
        processors: [(any LogitsProcessor)?]? = nil,
        onToken: (Int, GeneratedToken, String) -> GenerationControl = { _, _, _ in .proceed }
    ) -> [GenerationResult] {
        let procs = processors ?? Array(repeating: nil, count: requests.count)
        precondition(procs.count == requests.count, "one processor slot per request")
        let model = context.model
        let vocab = model.config.vocabularySize
        var slots: [Slot] = []
        var firstLogits: [Int: [Float]] = [:]

        // Prefill each distinct prompt once; requests sharing it fork its cache.
        var byPrompt: [[Int]: [Int]] = [:]
        for (i, r) in requests.enumerated() { byPrompt[r.prompt, default: []].append(i) }
        for (prompt, members) in byPrompt.sorted(by: { $0.value[0] < $1.value[0] }) {
            guard !prompt.isEmpty else {
                for i in members {
                    let s = Slot(index: i, request: requests[i], sequence: model.makeSequence(), processor: procs[i])
                    s.finish = .length
                    slots.append(s)
                }
                continue
            }
            let base = model.makeSequence()
            let logits = prefill(prompt, into: base)
            for i in members {
                let seq = members.count == 1 ? base : model.makeSequence(prefix: base)
                slots.append(Slot(index: i, request: requests[i], sequence: seq, processor: procs[i]))
                firstLogits[i] = logits
            }
        }
        slots.sort { $0.index < $1.index }

        // First token of each sequence from its prompt's logits.
        for s in slots where s.finish == nil {
            var l = firstLogits[s.index]!
            l.withUnsafeMutableBufferPointer { advance(s, logits: $0, onToken: onToken) }
        }
        // Then one batched forward pass per step over every live sequence.
        while true {
            let live = slots.filter { $0.finish == nil }
            if live.isEmpty { break }
            let rows = live.map { BatchRow(sequence: $0.sequence, token: $0.last, position: $0.sequence.length, wantsLogits: true) }
            let logits = context.forward(rows)
            for (j, s) in live.enumerated() {
                var l = Array(logits[(j * vocab)..<((j + 1) * vocab)])
                l.withUnsafeMutableBufferPointer { advance(s, logits: $0, onToken: onToken) }
            }
        }
        return slots.map { s in
            GenerationResult(tokens: s.tokens, text: s.text.text, finishReason: s.finish ?? .length, promptTokens: s.request.prompt.count)
        }
    }

    /// Prefills `prompt` into `sequence` in chunks; returns the logits after its last token.
    public func prefill(_ prompt: [Int], into sequence: KVSequence) -> [Float] {
        var pos = sequence.length
        var last: [Float] = []
        var i = 0
        while i < prompt.count {
            let end = min(prompt.count, i + prefillChunk)
            let rows = (i..<end).map { j in
                BatchRow(sequence: sequence, token: prompt[j], position: pos + (j - i), wantsLogits: j == prompt.count - 1)
            }
            let out = context.forward(rows)
            if end == prompt.count { last = Array(out) }
            pos += end - i
            i = end
        }
        return last
    }

    private func advance(_ s: Slot, logits: UnsafeMutableBufferPointer<Float>, onToken: (Int, GeneratedToken, String) -> GenerationControl) {
        let token = s.sampler.sample(logits, processor: &s.processor)
        s.last = token.id
        if tokenizer.eosTokens.contains(token.id) {
            s.finish = .endOfText
            if case .stop = onToken(s.index, token, s.text.flush()) { s.finish = .cancelled }
            return
        }
        s.tokens.append(token)
        var delta = s.text.append(tokenizer.tokenBytes[token.id])
        if s.text.stoppedAt != nil {
            s.finish = .stop
        } else if s.tokens.count >= s.request.maxTokens || s.sequence.length + 1 >= context.model.config.contextLength {
            s.finish = .length
        } else if let c = s.processor as? any CompletionAware, c.isComplete {
            s.finish = .complete
        }
        if s.finish != nil { delta += s.text.flush() }
        if case .stop = onToken(s.index, token, delta) { s.finish = .cancelled }
    }
}

/// A logits processor that knows when the output is complete (a finished program).
public protocol CompletionAware {
    var isComplete: Bool { get }
}
