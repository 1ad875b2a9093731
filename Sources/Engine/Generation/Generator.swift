import Tokenizer

/// Runs a fixed set of generation requests to completion on one inference context.
///
/// Requests with the same prompt prefill it once and share its cache entries
/// (the N candidates of one task cost one prefill).
public final class Generator {
    public let batch: DecodeBatch
    public var context: InferenceContext { batch.context }

    public init(context: InferenceContext, tokenizer: Tokenizer) {
        batch = DecodeBatch(context: context, tokenizer: tokenizer)
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
        var byPrompt: [[Int]: [Int]] = [:]
        for (i, r) in requests.enumerated() { byPrompt[r.prompt, default: []].append(i) }
        var slots: [DecodeBatch.Slot?] = Array(repeating: nil, count: requests.count)
        func deliver(_ events: [DecodeBatch.Event]) {
            for e in events {
                guard let t = e.token, e.finish != .endOfText || !e.delta.isEmpty else { continue }
                if case .stop = onToken(e.slot.id, t, e.delta) { e.slot.cancelled = true }
            }
        }
        for (prompt, members) in byPrompt.sorted(by: { $0.value[0] < $1.value[0] }) {
            let added = batch.add(prompt: prompt, requests: members.map { ($0, requests[$0], procs[$0]) })
            for s in added.slots { slots[s.id] = s }
            deliver(added.events)
        }
        while !batch.isEmpty { deliver(batch.step()) }
        return slots.map { $0!.result }
    }

    /// Prefills `prompt` into `sequence`; returns the logits after its last token.
    public func prefill(_ prompt: [Int], into sequence: KVSequence) -> [Float] {
        batch.prefill(prompt, into: sequence)
    }
}
