import Checks
import Engine
import Foundation
import Telemetry
import Tokenizer

/// The body of a `generate` run log; what it holds grows with the level.
public struct GenerateRunBody: Encodable, Sendable {
    /// One task's outcome.
    public struct Outcome: Encodable, Sendable {
        public var requestID: String
        public var taskSHA256: String
        public var status: String
        public var attempt: Int
        public var decision: String?
        public var gatingAction: String?
        public var confidence: ConfidenceMetrics
        public var problems: Int
        public var seconds: Double
        /// From `standard` on.
        public var attempts: [AttemptStats]?
        /// From `detailed` on.
        public var candidates: [[CandidateRecord]]?
    }

    /// Per-attempt figures.
    public struct AttemptStats: Encodable, Sendable {
        public var kind: AttemptKind
        public var candidates: Int
        public var checked: Int
        /// Candidates that compiled and passed every check (verified or compiled).
        public var passed: Int
        public var rollbacks: Int
        public var meanTokens: Double
        public var seconds: Double
    }

    /// One candidate, at `detailed` (and its tokens at `debug`).
    public struct CandidateRecord: Encodable, Sendable {
        public var code: String
        public var problems: [Finding]
        public var meanLogprob: Float
        public var confidence: ConfidenceMetrics
        public var tokens: [TokenRecord]?
    }

    /// One token at `debug`.
    public struct TokenRecord: Encodable, Sendable {
        public var id: Int
        public var text: String
        public var logprob: Float
        public var entropy: Float
    }

    public var tasks: [Outcome]

    public init(results: [GenerateResult], level: LogLevel, tokenizer: Tokenizer) {
        tasks = results.map { r in
            Outcome(requestID: r.requestID, taskSHA256: r.taskHash, status: r.status.rawValue, attempt: r.attempt,
                    decision: r.gating?.decision.rawValue, gatingAction: r.gating?.action, confidence: r.confidence, problems: r.problems.count,
                    seconds: r.seconds,
                    attempts: level >= .standard ? r.attempts.map { a in
                        AttemptStats(kind: a.kind, candidates: a.candidates.count,
                                     checked: a.candidates.filter { !$0.problems.isEmpty || $0.verdict != .problems }.count,
                                     passed: a.candidates.filter { $0.verdict != .problems }.count, rollbacks: a.candidates.reduce(0) { $0 + $1.rollbacks },
                                     meanTokens: Double(a.candidates.reduce(0) { $0 + $1.tokenCount }) / Double(max(1, a.candidates.count)),
                                     seconds: a.seconds)
                    } : nil,
                    candidates: level >= .detailed ? r.attempts.map { a in
                        a.candidates.map { c in
                            CandidateRecord(code: c.code, problems: c.problems, meanLogprob: c.meanLogprob, confidence: c.confidence,
                                            tokens: level >= .debug ? c.tokens.map { TokenRecord(id: $0.id, text: tokenizer.decode([$0.id]), logprob: $0.logprob, entropy: $0.entropy) } : nil)
                        }
                    } : nil)
        }
    }
}
