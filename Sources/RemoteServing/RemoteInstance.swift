import Engine
import Foundation
import OpenAIBackend
import Serving
import Tokenizer

/// A model behind an OpenAI-compatible server, as a named instance beside the embedded ones.
///
/// Prompts are sent as text to `/v1/completions` (the pipeline's prompts are already in the
/// chat format, with the answer prefilled). Tokens come back with their log-probabilities and
/// top alternatives, so confidence and gating work; entropy is then computed from the
/// alternatives only. A server cannot be asked to mask logits, so the prefix monitor runs on
/// whole lines: a dead line is cut off and the rest sampled again, as the embedded loop does.
public final class RemoteInstance: InferenceBackend, @unchecked Sendable {
    public let name: String
    public let tokenizer: Tokenizer
    public let client: OpenAIClient
    /// A GBNF grammar to send with every request (llama.cpp servers), if any.
    public let grammar: String?
    private let lock = NSLock()
    private var inFlight = 0

    public init(name: String, client: OpenAIClient, tokenizer: Tokenizer, grammar: String? = nil) {
        self.name = name
        self.client = client
        self.tokenizer = tokenizer
        self.grammar = grammar
    }

    public var load: Int { lock.withLock { inFlight } }

    public func shutdown() {}

    public func generate(_ requests: [GenerationRequest], processors: [(any LogitsProcessor)?]?) async throws -> [GenerationResult] {
        lock.withLock { inFlight += requests.count }
        defer { lock.withLock { inFlight -= requests.count } }
        return try await withThrowingTaskGroup(of: (Int, GenerationResult).self) { group in
            for (i, r) in requests.enumerated() { group.addTask { (i, try await self.complete(r)) } }
            var out = [GenerationResult?](repeating: nil, count: requests.count)
            for try await (i, r) in group { out[i] = r }
            return out.map { $0! }
        }
    }

    /// Each request completes, then its tokens are replayed as events (a server stream carries no repair events).
    public func stream(_ requests: [GenerationRequest], processors: [(any LogitsProcessor)?]?) -> [AsyncThrowingStream<GenerationEvent, Error>] {
        requests.map { r in
            AsyncThrowingStream { continuation in
                let task = Task {
                    do {
                        let result = try await self.generate([r], processors: nil)[0]
                        for t in result.tokens { continuation.yield(.token(t, self.tokenizer.piece(t.id))) }
                        continuation.yield(.finished(result))
                        continuation.finish()
                    } catch {
                        continuation.finish(throwing: error)
                    }
                }
                continuation.onTermination = { _ in task.cancel() }
            }
        }
    }

    /// One completion, with line-level monitor rollbacks.
    func complete(_ r: GenerationRequest) async throws -> GenerationResult {
        let prompt = tokenizer.decode(r.prompt)
        var kept = ""
        var keptTokens: [GeneratedToken] = []
        var rollbacks = 0
        var finish = FinishReason.length
        var seed = r.sampling.seed
        while true {
            let remaining = r.maxTokens - keptTokens.count
            guard remaining > 0 else { break }
            var req = CompletionRequest(.prompt(prompt + kept), maxTokens: remaining, temperature: Double(r.sampling.temperature),
                                        topP: Double(r.sampling.topP), topK: r.sampling.topK, minP: Double(Self.minP(r)), seed: seed, stop: r.stop,
                                        grammar: r.gbnf ?? grammar, topLogprobs: max(1, r.sampling.topLogprobs))
            if r.sampling.frequencyPenalty != 0 { req.frequencyPenalty = Double(r.sampling.frequencyPenalty) }
            if r.sampling.presencePenalty != 0 { req.presencePenalty = Double(r.sampling.presencePenalty) }
            let c = try await client.complete(req)
            let tokens = c.tokens.map(generated)
            finish = c.finishReason == .some(.length) ? .length : .stop
            guard let monitor = r.monitor, rollbacks < r.maxRollbacks,
                  let cut = Self.firstDeadLine(kept, c.text, monitor: monitor, final: finish != .length) else {
                kept += c.text
                keptTokens += tokens
                break
            }
            // Keep the viable lines of this answer and sample the rest again.
            let keepText = String(c.text.prefix(cut))
            kept += keepText
            keptTokens += Self.tokens(tokens, covering: keepText.utf8.count, pieces: c.tokens)
            rollbacks += 1
            seed &+= 1
        }
        var result = GenerationResult(tokens: keptTokens, text: kept, finishReason: finish, promptTokens: r.prompt.count)
        result.rollbacks = rollbacks
        result.alternativesOnly = true
        return result
    }

    /// `server` repair mode passes the threshold as min-p.
    static func minP(_ r: GenerationRequest) -> Float {
        r.repair.mode == .server ? max(r.sampling.minP, r.repair.serverMinP ?? r.repair.threshold) : r.sampling.minP
    }

    /// Characters of `text` up to the end of the last viable line before the first dead one, or nil when every line is viable.
    static func firstDeadLine(_ before: String, _ text: String, monitor: any PrefixMonitor, final: Bool) -> Int? {
        var lastGood = 0
        var index = 0
        for ch in text {
            index += 1
            guard ch == "\n" else { continue }
            if case .dead = monitor.verdict(for: before + String(text.prefix(index)), final: false) { return lastGood }
            lastGood = index
        }
        if final, case .dead = monitor.verdict(for: before + text, final: true) { return lastGood }
        return nil
    }

    /// The leading tokens whose text makes up the first `bytes` bytes.
    static func tokens(_ tokens: [GeneratedToken], covering bytes: Int, pieces: [CompletionToken]) -> [GeneratedToken] {
        var n = 0
        var out: [GeneratedToken] = []
        for (t, p) in zip(tokens, pieces) {
            let len = p.bytes?.count ?? p.token.utf8.count
            guard n + len <= bytes else { break }
            n += len
            out.append(t)
        }
        return out
    }

    /// A server token as the engine's: its id (reported, else the local tokenizer's), log-probability,
    /// the entropy of its renormalized alternatives, and the alternatives with local ids.
    func generated(_ t: CompletionToken) -> GeneratedToken {
        let id = t.id ?? tokenizer.encode(t.token).first ?? 0
        let top = t.top.map { TokenLogprob(id: $0.id ?? tokenizer.encode($0.token).first ?? 0, logprob: Float($0.logprob)) }
        let mass = t.top.reduce(0) { $0 + exp($1.logprob) }
        let entropy = mass > 0 ? -t.top.reduce(0) { acc, a in let p = exp(a.logprob) / mass; return acc + (p > 0 ? p * log(p) : 0) } : 0
        return GeneratedToken(id: id, logprob: Float(t.logprob ?? 0), entropy: Float(entropy), top: top)
    }
}
