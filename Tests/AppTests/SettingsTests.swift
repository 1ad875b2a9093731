import ElixirCoderApp
import ElixirCoderCore
import Engine
import Foundation
import Pipeline
import Telemetry
import Testing

/// One precedence for every setting: defaults < config file < environment < flags.
@Suite("Settings resolution")
struct SettingsTests {
    /// A config file in a fresh directory, loaded with `environment` over it.
    func config(file: [String: Any], environment: [String: String] = [:]) throws -> (Configuration, Paths) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ec-settings-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let path = dir.appendingPathComponent("config.json")
        try JSONSerialization.data(withJSONObject: file).write(to: path)
        let paths = Paths(environment: ["ELIXIR_CODER_HOME": dir.path, "ELIXIR_CODER_CONFIG": path.path])
        return (try Configuration.load(paths: paths, environment: environment), paths)
    }

    @Test("generate's sampling and repair settings: the environment over the file over the defaults, for every front end")
    func generateOptions() throws {
        let defaults = GenerateOptions()
        let (none, _) = try config(file: [:])
        let plain = try GenerateOptions(config: none)
        #expect(plain.sampling.temperature == defaults.sampling.temperature && plain.sampling.seed == defaults.sampling.seed
                && plain.maxTokens == defaults.maxTokens && plain.repair.mode == .off)

        let file: [String: Any] = ["temperature": 0.5, "seed": 7, "maxTokens": 99, "topK": 5, "topP": 0.5, "minP": 0.2,
                                   "repairMode": "server", "perTokenRepairThreshold": 0.3, "maxLiveRepairs": 2]
        let (fromFile, _) = try config(file: file)
        let o = try GenerateOptions(config: fromFile)
        #expect(o.sampling.temperature == 0.5 && o.sampling.seed == 7 && o.maxTokens == 99 && o.sampling.topK == 5
                && o.sampling.topP == 0.5 && o.sampling.minP == 0.2)
        #expect(o.repair.mode == .server && o.repair.threshold == 0.3 && o.repair.maxLiveRepairs == 2)

        // The case that was broken: ELIXIR_CODER_TEMPERATURE=0 must reach generate.
        let env = ["ELIXIR_CODER_TEMPERATURE": "0", "ELIXIR_CODER_SEED": "3", "ELIXIR_CODER_MAX_TOKENS": "12", "ELIXIR_CODER_TOP_K": "9",
                   "LLM_REPAIR_MODE": "shadow", "LLM_PER_TOKEN_REPAIR_THRESHOLD": "0.7", "LLM_MAX_LIVE_REPAIRS": "4"]
        let (fromEnv, _) = try config(file: file, environment: env)
        let e = try GenerateOptions(config: fromEnv)
        #expect(e.sampling.temperature == 0 && e.sampling.seed == 3 && e.maxTokens == 12 && e.sampling.topK == 9 && e.sampling.topP == 0.5)
        #expect(e.repair.mode == .shadow && e.repair.threshold == 0.7 && e.repair.maxLiveRepairs == 4)

        // Flags (here, the repair flags' values) over both.
        let flagged = try RepairPolicy(config: fromEnv, mode: "off", threshold: 0.1)
        #expect(flagged.mode == .off && flagged.threshold == 0.1 && flagged.maxLiveRepairs == 4)
        #expect(throws: ConfigurationError.self) { try GenerateOptions(config: try config(file: ["repairMode": "sometimes"]).0) }
        #expect(throws: ConfigurationError.self) { try config(file: [:], environment: ["LLM_MAX_LIVE_REPAIRS": "many"]) }
    }

    @Test("model settings: flags over the environment over the file over the defaults")
    func model() throws {
        let file: [String: Any] = ["model": "file.gguf", "threads": 3, "backendURL": "http://file:1/v1", "backendModel": "fm", "backendAPIKeyEnv": "FILE_KEY", "drafts": false]
        let (fromFile, _) = try config(file: file)
        let f = ModelSettings(config: fromFile)
        #expect(f.model == "file.gguf" && f.threads == 3 && f.backendURL == "http://file:1/v1" && f.backendModel == "fm" && f.apiKeyEnv == "FILE_KEY" && !f.drafts)

        let (fromEnv, _) = try config(file: file, environment: ["ELIXIR_CODER_MODEL": "env.gguf", "ELIXIR_CODER_THREADS": "5", "ELIXIR_CODER_BACKEND_URL": "http://env:2/v1",
                                                                "ELIXIR_CODER_BACKEND_MODEL": "em", "ELIXIR_CODER_BACKEND_API_KEY_ENV": "ENV_KEY", "ELIXIR_CODER_DRAFTS": "true"])
        let e = ModelSettings(config: fromEnv)
        #expect(e.model == "env.gguf" && e.threads == 5 && e.backendURL == "http://env:2/v1" && e.backendModel == "em" && e.apiKeyEnv == "ENV_KEY" && e.drafts)

        let flags = ModelSettings(config: fromEnv, model: "flag.gguf", threads: 1, backendURL: "http://flag:3/v1", backendModel: "xm", apiKeyEnv: "FLAG_KEY", noDrafts: true)
        #expect(flags.model == "flag.gguf" && flags.threads == 1 && flags.backendURL == "http://flag:3/v1" && flags.backendModel == "xm" && flags.apiKeyEnv == "FLAG_KEY" && !flags.drafts)

        let (none, _) = try config(file: [:])
        let d = ModelSettings(config: none)
        #expect(d.model == nil && d.threads == ProcessInfo.processInfo.activeProcessorCount && d.backendURL == nil && d.drafts && d.kernels == .fast)
        let shadow = flags.with(model: "shadow.gguf", threads: 1)
        #expect(shadow.model == "shadow.gguf" && shadow.backendURL == nil, "a shadow file runs embedded, not on the primary's server")
    }

    @Test("observability settings: flags over the environment over the file over the defaults")
    func observability() throws {
        let (none, paths) = try config(file: [:])
        let d = try ObservabilitySettings(config: none, paths: paths)
        #expect(d.runLog.level == .minimal && d.runLog.directory == paths.state.appendingPathComponent("runs") && d.runLog.maxFiles == 50)
        #expect(d.inferenceLog && !d.promptPreview && d.gating != nil && d.shadowModel == nil)

        let file: [String: Any] = ["logLevel": "detailed", "logDirectory": "/tmp/file-runs", "logMaxFiles": 7, "inferenceLog": false, "promptPreview": true,
                                   "gating": false, "shadowModel": "file-shadow.gguf", "gateAbstainBelowTop1": 0.01]
        let (fromFile, _) = try config(file: file)
        let f = try ObservabilitySettings(config: fromFile, paths: paths)
        #expect(f.runLog.level == .detailed && f.runLog.directory.path == "/tmp/file-runs" && f.runLog.maxFiles == 7)
        #expect(!f.inferenceLog && f.promptPreview && f.gating == nil && f.shadowModel == "file-shadow.gguf")

        let (fromEnv, _) = try config(file: file, environment: ["ELIXIR_CODER_LOG_LEVEL": "debug", "ELIXIR_CODER_LOG_DIR": "/tmp/env-runs", "ELIXIR_CODER_INFERENCE_LOG": "true",
                                                                "ELIXIR_CODER_GATING": "on", "ELIXIR_CODER_SHADOW_MODEL": "env-shadow.gguf"])
        let e = try ObservabilitySettings(config: fromEnv, paths: paths)
        #expect(e.runLog.level == .debug && e.runLog.directory.path == "/tmp/env-runs" && e.inferenceLog && e.shadowModel == "env-shadow.gguf")
        #expect(e.gating?.abstainBelowTop1 == 0.01, "the file's threshold, the environment's switch")

        let flags = try ObservabilitySettings(config: fromEnv, paths: paths, logLevel: "off", logDirectory: "/tmp/flag-runs", noInferenceLog: true,
                                              noGate: true, shadowModel: "flag-shadow.gguf")
        #expect(flags.runLog.level == .off && flags.runLog.directory.path == "/tmp/flag-runs" && !flags.inferenceLog && flags.gating == nil && flags.shadowModel == "flag-shadow.gguf")
        #expect(throws: ConfigurationError.self) { try ObservabilitySettings(config: none, paths: paths, logLevel: "loud") }
        let silent = try ObservabilitySettings.silent(config: fromEnv)
        #expect(silent.runLog.level == .off && !silent.inferenceLog)
    }
}
