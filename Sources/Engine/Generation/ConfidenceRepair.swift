/// How low-confidence tokens are handled while a sequence is decoded.
public struct RepairPolicy: Sendable, Codable, Equatable {
    /// `off`: no repair; `shadow`: resample low-confidence tokens here with stricter sampling;
    /// `server`: let the sampler's min-p drop unlikely tokens (what a server with `min_p` does).
    public enum Mode: String, Sendable, Codable, CaseIterable { case off, shadow, server }

    public var mode: Mode = .off
    /// A token with probability exp(logprob) below this is repaired.
    public var threshold: Float = 0.5
    /// Draws per repaired position; after the last, the most confident draw seen wins.
    public var maxAttemptsPerToken = 8
    /// Repairs per generation at most.
    public var maxLiveRepairs = 8
    /// Tokens after a repair during which none is attempted, so a hard stretch does not thrash.
    public var cooldownTokens = 4
    /// Stricter sampling on a repair branch: temperature times this, top-p at most `repairTopP`.
    public var temperatureFactor: Float = 0.5
    public var repairTopP: Float = 0.8
    /// `server` mode's min-p (default: the threshold).
    public var serverMinP: Float?
    /// Generation stops after this many repetition hits.
    public var repeatHitsStopThreshold = 3
    /// Frequency and presence penalties added at each repetition hit.
    public var penaltyStep: Float = 0.3

    public init() {}
}

/// One repaired position: what was drawn first, what replaced it.
public struct TokenRepair: Sendable, Codable, Equatable {
    /// Index of the token in the generated sequence.
    public var position: Int
    public var original: GeneratedToken
    public var originalText: String
    public var replacement: GeneratedToken
    public var replacementText: String
    public var attempts: Int
    /// A draw cleared the threshold (otherwise the most confident draw was taken).
    public var cleared: Bool
}

/// Detects a generation going round in circles: a long tail seen before, a repeated n-gram,
/// or a repeated line.
public struct RepetitionDetector: Sendable {
    public var tailLength = 48
    public var ngram = 6
    public var ngramRepeats = 3
    /// Lines shorter than this may repeat (`end`, `)`), which code does all the time.
    public var minimumLineLength = 16
    /// Tokens between two hits, so one loop is counted once per stretch.
    public var spacing = 16
    private var lastHit = -1_000_000

    public init() {}

    /// Whether the text and tokens so far end in a repetition (counted at most once per `spacing` tokens).
    public mutating func hit(text: [UInt8], tokens: [Int]) -> Bool {
        guard tokens.count - lastHit >= spacing, isRepeating(text: text, tokens: tokens) else { return false }
        lastHit = tokens.count
        return true
    }

    public func isRepeating(text: [UInt8], tokens: [Int]) -> Bool {
        if text.count >= tailLength * 2 {
            let tail = Array(text.suffix(tailLength))
            let before = text.dropLast(tailLength)
            if before.count >= tailLength, Self.contains(Array(before), tail) { return true }
        }
        if tokens.count >= ngram * ngramRepeats {
            let last = Array(tokens.suffix(ngram))
            var count = 0
            var i = 0
            while i + ngram <= tokens.count {
                if Array(tokens[i..<(i + ngram)]) == last { count += 1; i += ngram } else { i += 1 }
            }
            if count >= ngramRepeats { return true }
        }
        if text.last == 10 {
            let lines = text.split(separator: 10, omittingEmptySubsequences: true).map { Array($0).drop { $0 == 32 } }
            if lines.count >= 2, let a = lines.last, a.count >= minimumLineLength, Array(a) == Array(lines[lines.count - 2]) { return true }
        }
        return false
    }

    static func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard needle.count <= haystack.count else { return false }
        for i in 0...(haystack.count - needle.count) where haystack[i] == needle[0] && Array(haystack[i..<(i + needle.count)]) == needle { return true }
        return false
    }
}
