/// Draft tokens for speculative decoding, looked up in the prompt (prompt-lookup decoding).
///
/// Repair and review rounds rewrite code that is in their prompt, so the next tokens are
/// often the ones that followed the same few tokens there. A small batch verifies such a
/// draft in one forward pass of a few rows, which costs little more than one row.
public struct PromptLookup: Sendable {
    /// Tokens that must match before the prompt is trusted to continue the same way.
    public var ngram = 3
    /// Most tokens drafted at once.
    public var maxDraft = 6
    /// Drafts are tried only while the batch has at most this many sequences: a larger
    /// batch already keeps the cores busy, and wrong drafts would cost real work.
    public var maxBatch = 2

    public init() {}

    /// The tokens that followed the latest earlier occurrence, in `prompt`, of the last
    /// `ngram` tokens of `prompt + generated`; empty when there is none.
    public func draft(prompt: [Int], generated: [Int], limit: Int) -> [Int] {
        let count = min(maxDraft, limit)
        guard count > 0, generated.count + prompt.count > ngram else { return [] }
        func token(_ i: Int) -> Int { i < prompt.count ? prompt[i] : generated[i - prompt.count] }
        let tail = prompt.count + generated.count - ngram
        // Latest match first: the code under repair is near the prompt's end.
        var start = prompt.count - ngram - 1
        while start >= 0 {
            if (0..<ngram).allSatisfy({ token(start + $0) == token(tail + $0) }) {
                let from = start + ngram
                return Array(prompt[from..<min(prompt.count, from + count)])
            }
            start -= 1
        }
        return []
    }
}
