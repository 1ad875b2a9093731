import Foundation

/// What a decode batch has done: how many rows its forward passes carried and where its time went.
///
/// Prompt rows cost about what decode rows cost, and a prompt is computed once however many
/// requests are in flight, so these figures say how much of a run could share passes at all.
public struct EngineActivity: Sendable, Codable, Equatable {
    /// Forward passes: decode steps (which may carry joining prompts) and prompt-only passes.
    public var passes = 0
    /// Prompt positions computed, and those found in the prompt cache instead.
    public var promptRows = 0
    public var cachedPromptRows = 0
    /// Rows of decode steps: one per live sequence and one per drafted token.
    public var decodeRows = 0
    public var draftRows = 0
    /// Tokens sampled, of which drafted tokens accepted.
    public var tokens = 0
    public var acceptedDraftTokens = 0
    /// Seconds in forward passes, in sampling after them (the monitor's verdicts included),
    /// and in steps overall (staging prompts and bookkeeping besides).
    public var forwardSeconds = 0.0
    public var samplingSeconds = 0.0
    public var stepSeconds = 0.0

    public init() {}

    /// Every field of `a` plus `b`'s, as when a restarted loop continues a failed one's count.
    public static func + (a: EngineActivity, b: EngineActivity) -> EngineActivity {
        a.combined(with: b, sign: 1)
    }

    /// What happened between two readings.
    public static func - (a: EngineActivity, b: EngineActivity) -> EngineActivity {
        a.combined(with: b, sign: -1)
    }

    private func combined(with o: EngineActivity, sign: Int) -> EngineActivity {
        var r = EngineActivity()
        r.passes = passes + sign * o.passes
        r.promptRows = promptRows + sign * o.promptRows
        r.cachedPromptRows = cachedPromptRows + sign * o.cachedPromptRows
        r.decodeRows = decodeRows + sign * o.decodeRows
        r.draftRows = draftRows + sign * o.draftRows
        r.tokens = tokens + sign * o.tokens
        r.acceptedDraftTokens = acceptedDraftTokens + sign * o.acceptedDraftTokens
        r.forwardSeconds = forwardSeconds + Double(sign) * o.forwardSeconds
        r.samplingSeconds = samplingSeconds + Double(sign) * o.samplingSeconds
        r.stepSeconds = stepSeconds + Double(sign) * o.stepSeconds
        return r
    }

    /// A reading for `seconds(since:)`.
    static func clock() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

    static func seconds(since reading: UInt64) -> Double { Double(clock() - reading) / 1e9 }
}
