import ArgumentParser
import ElixirCoderCore
import Engine
import Foundation
import Pipeline

/// Per-token confidence repair flags. Precedence: flag, then the `LLM_*` environment variables
/// (the names of the confidence-repair design), then the config file, then the defaults.
public struct RepairOptions: ParsableArguments, Sendable {
    public init() {}

    @Option(help: "off, shadow (redraw low-confidence tokens with stricter sampling) or server (min-p) (env LLM_REPAIR_MODE, config `repairMode`; default off).")
    public var repairMode: RepairPolicy.Mode?
    @Option(help: "Repair tokens whose probability is below this (env LLM_PER_TOKEN_REPAIR_THRESHOLD; default 0.5).") public var perTokenThreshold: Float?
    @Option(help: "Draws per repaired token (env LLM_MAX_ATTEMPTS_PER_TOKEN; default 8).") public var maxAttemptsPerToken: Int?
    @Option(help: "Repairs per candidate at most (env LLM_MAX_LIVE_REPAIRS; default 8).") public var maxLiveRepairs: Int?
    @Option(name: .customLong("repair-min-p"), help: "min-p of the server repair mode (env LLM_SERVER_MIN_P; default: the threshold). Not the sampling --min-p of complete.") public var serverMinP: Float?
    @Option(help: "Stop a candidate after this many repetition hits (env LLM_REPEAT_HITS_STOP_THRESHOLD; default 3).") public var repeatHitsStopThreshold: Int?

    /// These flags over the config file and the environment.
    public func policy(_ config: Configuration) throws -> RepairPolicy {
        try RepairPolicy(config: config, mode: repairMode?.rawValue, threshold: perTokenThreshold, maxAttemptsPerToken: maxAttemptsPerToken,
                         maxLiveRepairs: maxLiveRepairs, serverMinP: serverMinP, repeatHitsStopThreshold: repeatHitsStopThreshold)
    }
}

extension RepairPolicy.Mode: ExpressibleByArgument {}

extension LiveDelta {
    /// For a terminal: text as it comes; rolled-back text erased with backspaces when it is on one line.
    public static func terminalText(_ d: LiveDelta) -> String {
        switch d {
        case .text(let t): return t
        case .rollback(let t):
            let n = t.count
            return t.contains("\n") ? "" : String(repeating: "\u{8}", count: n) + String(repeating: " ", count: n) + String(repeating: "\u{8}", count: n)
        }
    }
}
