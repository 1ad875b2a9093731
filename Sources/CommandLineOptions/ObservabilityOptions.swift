import ArgumentParser
import ElixirCoderApp
import ElixirCoderCore
import Foundation
import Telemetry

/// Flags shared by the commands that generate: the confidence gate, logs and the shadow model.
public struct ObservabilityOptions: ParsableArguments, Sendable {
    public init() {}

    @Option(help: "Run log detail: off, minimal, standard, detailed or debug (default minimal; config `logLevel`, env ELIXIR_CODER_LOG_LEVEL).")
    public var logLevel: LogLevel?
    @Option(help: "Where run logs go (default: STATE/runs; config `logDirectory`, env ELIXIR_CODER_LOG_DIR).") public var logDir: String?
    @Flag(help: "Do not record requests in the SQLite inference log (config `inferenceLog`, env ELIXIR_CODER_INFERENCE_LOG).") public var noInferenceLog = false
    @Flag(help: "Keep a preview (under 128 characters) of each task in the inference log; off by default, only a hash is kept.") public var promptPreview = false
    @Flag(help: "Turn the confidence gate off (config `gating`, env ELIXIR_CODER_GATING).") public var noGate = false
    @Option(help: "A shadow model (GGUF path or known name) that answers each request afterwards, for comparison only (config `shadowModel`, env ELIXIR_CODER_SHADOW_MODEL).")
    public var shadowModel: String?

    /// These flags over the config file and the environment.
    public func settings(config: Configuration, paths: Paths = Paths()) throws -> ObservabilitySettings {
        try ObservabilitySettings(config: config, paths: paths, logLevel: logLevel?.rawValue, logDirectory: logDir, noInferenceLog: noInferenceLog,
                                  promptPreview: promptPreview, noGate: noGate, shadowModel: shadowModel)
    }
}

extension LogLevel: ExpressibleByArgument {}

extension GenerationSetup {
    /// The setup for a command's flags: config file and environment loaded, the flags over them.
    public static func make(modelOptions: ModelOptions, observability: ObservabilityOptions?, grammarOptions: PipelineGrammarOptions? = nil,
                     paths: Paths = Paths(), quiet: Bool = false, contextFiles: [String: String] = [:]) throws -> GenerationSetup {
        let config = try Configuration.load(paths: paths)
        let observing = try observability.map { try $0.settings(config: config, paths: paths) } ?? .silent(config: config)
        return try make(config: config, model: modelOptions.settings(config: config), observability: observing,
                        grammar: grammarOptions.map { $0.chosen(config: config) }, paths: paths, quiet: quiet, contextFiles: contextFiles)
    }
}
