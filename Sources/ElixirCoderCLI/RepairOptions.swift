import ArgumentParser
import ElixirCoderCore
import Engine
import Foundation
import Pipeline

/// Per-token confidence repair flags. Precedence: flag, then the `LLM_*` environment variables
/// (the names of the confidence-repair design), then the config file, then the defaults.
struct RepairOptions: ParsableArguments {
    @Option(help: "off, shadow (redraw low-confidence tokens with stricter sampling) or server (min-p) (env LLM_REPAIR_MODE, config `repairMode`; default off).")
    var repairMode: RepairPolicy.Mode?
    @Option(help: "Repair tokens whose probability is below this (env LLM_PER_TOKEN_REPAIR_THRESHOLD; default 0.5).") var perTokenThreshold: Float?
    @Option(help: "Draws per repaired token (env LLM_MAX_ATTEMPTS_PER_TOKEN; default 8).") var maxAttemptsPerToken: Int?
    @Option(help: "Repairs per candidate at most (env LLM_MAX_LIVE_REPAIRS; default 8).") var maxLiveRepairs: Int?
    @Option(name: .customLong("repair-min-p"), help: "min-p of the server repair mode (env LLM_SERVER_MIN_P; default: the threshold). Not the sampling --min-p of complete.") var serverMinP: Float?
    @Option(help: "Stop a candidate after this many repetition hits (env LLM_REPEAT_HITS_STOP_THRESHOLD; default 3).") var repeatHitsStopThreshold: Int?

    func policy(_ config: Configuration, environment env: [String: String] = ProcessInfo.processInfo.environment) throws -> RepairPolicy {
        func envValue<T: LosslessStringConvertible>(_ key: String) throws -> T? {
            guard let v = env[key], !v.isEmpty else { return nil }
            guard let x = T(v) else { throw ValidationError("\(key)=\(v) is not valid") }
            return x
        }
        var p = RepairPolicy()
        let modeText = repairMode?.rawValue ?? env["LLM_REPAIR_MODE"].flatMap { $0.isEmpty ? nil : $0 } ?? config.repairMode
        if let modeText {
            guard let m = RepairPolicy.Mode(rawValue: modeText.lowercased()) else { throw ValidationError("repair mode '\(modeText)' is not off, shadow or server") }
            p.mode = m
        }
        p.threshold = try perTokenThreshold ?? envValue("LLM_PER_TOKEN_REPAIR_THRESHOLD") ?? config.perTokenRepairThreshold ?? p.threshold
        p.maxAttemptsPerToken = try maxAttemptsPerToken ?? envValue("LLM_MAX_ATTEMPTS_PER_TOKEN") ?? config.maxAttemptsPerToken ?? p.maxAttemptsPerToken
        p.maxLiveRepairs = try maxLiveRepairs ?? envValue("LLM_MAX_LIVE_REPAIRS") ?? config.maxLiveRepairs ?? p.maxLiveRepairs
        p.serverMinP = try serverMinP ?? envValue("LLM_SERVER_MIN_P") ?? config.serverMinP
        p.repeatHitsStopThreshold = try repeatHitsStopThreshold ?? envValue("LLM_REPEAT_HITS_STOP_THRESHOLD") ?? config.repeatHitsStopThreshold ?? p.repeatHitsStopThreshold
        guard (0...1).contains(p.threshold) else { throw ValidationError("the per-token threshold must be between 0 and 1") }
        guard p.maxAttemptsPerToken >= 1, p.maxLiveRepairs >= 0, p.repeatHitsStopThreshold >= 1 else {
            throw ValidationError("--max-attempts-per-token and --repeat-hits-stop-threshold must be at least 1, --max-live-repairs at least 0")
        }
        return p
    }
}

extension RepairPolicy.Mode: ExpressibleByArgument {}

extension LiveDelta {
    /// For a terminal: text as it comes; rolled-back text erased with backspaces when it is on one line.
    static func terminalText(_ d: LiveDelta) -> String {
        switch d {
        case .text(let t): return t
        case .rollback(let t):
            let n = t.count
            return t.contains("\n") ? "" : String(repeating: "\u{8}", count: n) + String(repeating: " ", count: n) + String(repeating: "\u{8}", count: n)
        }
    }
}
