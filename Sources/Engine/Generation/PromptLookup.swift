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
    /// position at a time in turn, highest `priority` first (a draft's first tokens, and
    /// drafts from longer matches, are the likeliest to be accepted).
    public static func share(_ drafts: [[Int]], budget: Int, priority: [Int]? = nil) -> [[Int]] {
        var lengths = [Int](repeating: 0, count: drafts.count)
        var left = budget
        var depth = 0
        let order = priority.map { p in drafts.indices.sorted { p[$0] > p[$1] } } ?? Array(drafts.indices)
        while left > 0 {
            var grew = false
            for i in order where left > 0 && drafts[i].count > depth {
                lengths[i] += 1
                left -= 1
                grew = true
            }
            guard grew else { break }
            depth += 1
        }
        return zip(drafts, lengths).map { Array($0.prefix($1)) }
    }

    /// The draft for a sequence that has written `generated` after `prompt`; see `lookup`.
    public func draft(prompt: [Int], generated: [Int], others: [[Int]] = [], limit: Int) -> [Int] {
        lookup(prompt: prompt, generated: generated, others: others, limit: limit).tokens
    }

    /// Up to `min(maxDraft, limit)` tokens that followed the place where the most tokens before
    /// it (at least `ngram`, at most 16) match the end of `prompt + generated`, and how many
    /// matched: a longer match is likelier to continue the same way. Places are looked for
    /// in what the sequences decoding alongside wrote (`others`), then in `prompt`; between
    /// equal matches the first found wins, and within a text the latest.
    public func lookup(prompt: [Int], generated: [Int], others: [[Int]] = [], limit: Int) -> (tokens: [Int], context: Int) {
        let count = min(maxDraft, limit)
        let total = prompt.count + generated.count
        guard count > 0, total > ngram else { return ([], 0) }
        func token(_ i: Int) -> Int { i < prompt.count ? prompt[i] : generated[i - prompt.count] }
        var best: (tokens: [Int], context: Int) = ([], 0)
        // `end` is where a draft would start, so at least one token must follow it.
        func scan(_ source: [Int]) {
            var end = source.count - 1
            while end >= ngram {
                var k = 0
                while k < 16, k < total, end - 1 - k >= 0, source[end - 1 - k] == token(total - 1 - k) { k += 1 }
                if k >= ngram && k > best.context { best = (Array(source[end..<min(source.count, end + count)]), k) }
                end -= 1
            }
        }
        if generated.count >= ngram { others.forEach(scan) }
        scan(prompt)
        return best
    }
}
