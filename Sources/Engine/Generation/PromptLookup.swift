/// Draft tokens for speculative decoding, looked up in the prompt (prompt-lookup decoding)
/// and in what the batch's other sequences wrote.
///
/// Repair and review rounds rewrite code that is in their prompt, and a task's candidates
/// write much the same program, so the next tokens are often the ones that followed the same
/// few tokens there. A pass verifies a draft in a few more rows, which cost little while they
/// fill the kernels' last tile of rows.
public struct PromptLookup: Sendable {
    /// Tokens that must match before the prompt is trusted to continue the same way.
    public var ngram = 3
    /// Most tokens drafted at once.
    public var maxDraft = 6
    /// Rows per tile of the integer matrix kernels, which sweep the weights once per tile:
    /// drafts fill a pass's last tile and never open another. Filling it costs little (in the
    /// serving benchmark, a pass of sixteen rows cost about a fifth more than one of ten and
    /// gave a third more tokens), while a new tile would cost a sweep for guesses.
    public var tileRows = 8

    public init() {}

    /// Draft rows a pass over `sequences` rows may add.
    public func rowBudget(sequences: Int) -> Int {
        (sequences + tileRows - 1) / tileRows * tileRows - sequences
    }

    /// Cuts each sequence's draft so that together they fit `budget` rows, giving out one
    /// position at a time in turn: a draft's first tokens are the likeliest to be accepted.
    public static func share(_ drafts: [[Int]], budget: Int) -> [[Int]] {
        var lengths = [Int](repeating: 0, count: drafts.count)
        var left = budget
        var depth = 0
        while left > 0 {
            var grew = false
            for i in drafts.indices where left > 0 && drafts[i].count > depth {
                lengths[i] += 1
                left -= 1
                grew = true
            }
            guard grew else { break }
            depth += 1
        }
        return zip(drafts, lengths).map { Array($0.prefix($1)) }
    }

    /// The tokens that followed the latest earlier occurrence of the last `ngram` tokens of
    /// `prompt + generated`: in the text of the sequences decoding alongside (`others`), which
    /// continue the same program more often than the prompt's examples do, or else in
    /// `prompt`; empty when there is none.
    public func draft(prompt: [Int], generated: [Int], others: [[Int]] = [], limit: Int) -> [Int] {
        let count = min(maxDraft, limit)
        guard count > 0, generated.count + prompt.count > ngram else { return [] }
        func token(_ i: Int) -> Int { i < prompt.count ? prompt[i] : generated[i - prompt.count] }
        let tail = prompt.count + generated.count - ngram
        if let d = fromOthers(generated: generated, others: others, count: count) { return d }
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

    /// What followed the last `ngram` generated tokens at their latest occurrence in the first
    /// of `others` that holds them.
    private func fromOthers(generated: [Int], others: [[Int]], count: Int) -> [Int]? {
        guard generated.count >= ngram else { return nil }
        let tail = generated[(generated.count - ngram)...]
        for other in others where other.count > ngram {
            var start = other.count - ngram - 1
            while start >= 0 {
                if other[start..<(start + ngram)].elementsEqual(tail) {
                    let from = start + ngram
                    return Array(other[from..<min(other.count, from + count)])
                }
                start -= 1
            }
        }
        return nil
    }
}
