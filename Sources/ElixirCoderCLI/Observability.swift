import ArgumentParser
import ElixirCoderCore
import Foundation
import Explain
import Grammar
import OpenAIBackend
import Pipeline
import RemoteServing
import Serving
import Telemetry
import Tokenizer

/// Flags shared by the commands that generate: the confidence gate, logs and the shadow model.
struct ObservabilityOptions: ParsableArguments {
    @Option(help: "Run log detail: off, minimal, standard, detailed or debug (default minimal; config `logLevel`, env ELIXIR_CODER_LOG_LEVEL).")
    var logLevel: LogLevel?
    @Option(help: "Where run logs go (default: STATE/runs; config `logDirectory`, env ELIXIR_CODER_LOG_DIR).") var logDir: String?
    @Flag(help: "Do not record requests in the SQLite inference log (config `inferenceLog`, env ELIXIR_CODER_INFERENCE_LOG).") var noInferenceLog = false
    @Flag(help: "Keep a preview (under 128 characters) of each task in the inference log; off by default, only a hash is kept.") var promptPreview = false
    @Flag(help: "Turn the confidence gate off (config `gating`, env ELIXIR_CODER_GATING).") var noGate = false
    @Option(help: "A shadow model (GGUF path or known name) that answers each request afterwards, for comparison only (config `shadowModel`, env ELIXIR_CODER_SHADOW_MODEL).")
    var shadowModel: String?

    func gating(_ config: Configuration) -> GatingThresholds? {
        guard !noGate, config.gating ?? true else { return nil }
        var g = GatingThresholds()
        g.reflectBelowAvgLogprob = config.gateReflectBelowAvgLogprob ?? g.reflectBelowAvgLogprob
        g.retrieveAboveEntropy = config.gateRetrieveAboveEntropy ?? g.retrieveAboveEntropy
        g.abstainBelowTop1 = config.gateAbstainBelowTop1 ?? g.abstainBelowTop1
        return g
    }

    func runLogSettings(_ config: Configuration, paths: Paths = Paths()) throws -> RunLogSettings {
        let raw = logLevel?.rawValue ?? config.logLevel ?? LogLevel.minimal.rawValue
        guard let level = LogLevel(rawValue: raw) else {
            throw ValidationError("log level '\(raw)' is not one of \(LogLevel.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let dir = logDir ?? config.logDirectory
        return RunLogSettings(level: level, directory: dir.map { URL(fileURLWithPath: $0) } ?? paths.state.appendingPathComponent("runs"),
                              maxFiles: config.logMaxFiles ?? 50)
    }
}

extension LogLevel: ExpressibleByArgument {}

/// The model registry as configured: the active model and an optional shadow.
struct ModelRegistry: Codable {
    var active: String
    var activeVersion: String
    var shadow: String?
    var shadowVersion: String?
    /// A shadow is configured and is not the active model itself.
    var shadowEnabled: Bool
    var available: [String]

    static func resolve(active spec: String?, shadow shadowSpec: String?, store: ModelStore = ModelStore()) throws -> (ModelRegistry, URL, URL?) {
        let activeURL = try store.resolve(spec)
        let shadowURL = try shadowSpec.map { try store.resolve($0) }
        let enabled = shadowURL.map { $0.standardizedFileURL.path != activeURL.standardizedFileURL.path } ?? false
        let registry = ModelRegistry(active: activeURL.path, activeVersion: try version(activeURL, store), shadow: shadowURL?.path,
                                     shadowVersion: try shadowURL.map { try version($0, store) }, shadowEnabled: enabled,
                                     available: store.list().map(\.path))
        return (registry, activeURL, enabled ? shadowURL : nil)
    }

    /// File name and the first 12 hex digits of its SHA-256.
    static func version(_ url: URL, _ store: ModelStore) throws -> String {
        "\(url.lastPathComponent)@\(try store.fingerprint(url).prefix(12))"
    }
}

/// An OpenAI-compatible server given by URL, model name and key variable.
struct RemoteSpec {
    let configuration: OpenAIConfiguration
    let version: String

    static func isURL(_ s: String) -> Bool { s.hasPrefix("http://") || s.hasPrefix("https://") }

    init(url: String, model: String?, keyVariable: String?) throws {
        guard Self.isURL(url), let u = URL(string: url) else { throw ValidationError("backend '\(url)' is not an http:// or https:// URL") }
        configuration = OpenAIConfiguration(baseURL: u, model: model, apiKeyVariable: keyVariable)
        version = "remote:\(model ?? "default")@\(url)"
    }

    func instance(name: String, tokenizer: Tokenizer) -> RemoteInstance {
        RemoteInstance(name: name, client: OpenAIClient(configuration: configuration), tokenizer: tokenizer)
    }
}

/// Everything a generating command needs: the observed generator, its registry and settings.
struct GenerationSetup {
    let observed: ObservedGenerator
    let registry: ModelRegistry
    let config: Configuration
    let runLog: RunLogSettings
    let gating: GatingThresholds?
    let paths: Paths

    /// The retrieval index, when it can be opened (the gate's retrieve action and `--explain` use it).
    let index: KnowledgeIndex?
    /// The grammar candidates are sampled under: a mask for the embedded model, GBNF for a server.
    let grammar: GrammarEngine?
    let gbnf: String?

    /// Options for a generate request with this setup's gate and grammar.
    func options() -> GenerateOptions {
        var o = GenerateOptions()
        adopt(&o)
        return o
    }

    /// Gives `o` this setup's gate and grammar, and the sampling settings of the config file and
    /// environment (flags, applied after, win).
    func adopt(_ o: inout GenerateOptions) {
        o.sampling.temperature = config.temperature ?? o.sampling.temperature
        o.sampling.seed = config.seed ?? o.sampling.seed
        o.maxTokens = config.maxTokens ?? o.maxTokens
        o.gating = gating
        o.grammar = grammar
        o.gbnf = gbnf
    }

    static func make(modelOptions: ModelOptions, observability: ObservabilityOptions, grammarOptions: PipelineGrammarOptions? = nil,
                     paths: Paths = Paths(), quiet: Bool = false, contextFiles: [String: String] = [:]) throws -> GenerationSetup {
        let config = try Configuration.load(paths: paths)
        let shadowSpec = observability.shadowModel ?? config.shadowModel
        let remoteShadow = shadowSpec.flatMap { RemoteSpec.isURL($0) ? $0 : nil }
        var (registry, _, shadowURL) = try ModelRegistry.resolve(active: modelOptions.model ?? config.model, shadow: remoteShadow == nil ? shadowSpec : nil)
        var primary: CodeGenerator
        let tokenizer: Tokenizer
        if let url = modelOptions.backend ?? config.backendURL {
            let remote = try RemoteSpec(url: url, model: modelOptions.backendModel ?? config.backendModel, keyVariable: modelOptions.apiKeyEnv ?? config.backendAPIKeyEnv)
            tokenizer = try modelOptions.tokenizer(config: config)
            primary = try ModelOptions.Loaded.codeGenerator(backend: remote.instance(name: "primary", tokenizer: tokenizer))
            registry.active = url
            registry.activeVersion = remote.version
        } else {
            let loaded = try modelOptions.load(config: config, quiet: quiet)
            tokenizer = loaded.tokenizer
            primary = try loaded.codeGenerator(kernels: modelOptions.kernels, name: "primary")
        }
        var index: KnowledgeIndex?
        do {
            index = try openKnowledgeIndex(paths: paths, quiet: quiet)
        } catch {
            if !quiet { Stderr.print("warning: the retrieval index is unavailable (\(error)); the gate's retrieve action uses context files only") }
        }
        var retrievers: [any PassageRetriever] = []
        if !contextFiles.isEmpty { retrievers.append(ContextFileRetriever(files: contextFiles)) }
        if let index { retrievers.append(index) }
        primary.retriever = MergedRetriever(retrievers)
        primary.taskHashKey = paths.taskHashKey()
        var shadow: CodeGenerator?
        if let remoteShadow {
            let remote = try RemoteSpec(url: remoteShadow, model: nil, keyVariable: modelOptions.apiKeyEnv ?? config.backendAPIKeyEnv)
            shadow = try ModelOptions.Loaded.codeGenerator(backend: remote.instance(name: "shadow", tokenizer: tokenizer))
            registry.shadow = remoteShadow
            registry.shadowVersion = remote.version
            registry.shadowEnabled = true
        } else if let shadowURL {
            var o = modelOptions
            o.model = shadowURL.path
            // The shadow gets one thread so it competes less with the primary.
            o.threads = 1
            shadow = try o.load(config: config, quiet: quiet).codeGenerator(kernels: modelOptions.kernels, name: "shadow")
        }
        var log: InferenceLog?
        if !observability.noInferenceLog, config.inferenceLog ?? true {
            var o = InferenceLog.Options()
            o.tokenTable = config.tokenTable ?? false
            o.retentionDays = config.retentionDays ?? 30
            log = try InferenceLog(path: paths.inferenceLog.path, options: o)
        }
        var settings = ObservationSettings()
        settings.promptPreview = observability.promptPreview || (config.promptPreview ?? false)
        settings.tokenTable = config.tokenTable ?? false
        settings.shadowTimeout = .milliseconds(Int((config.shadowTimeoutSeconds ?? 120) * 1000))
        settings.abstainAlertRate = config.abstainAlertRate ?? 0.3
        settings.onAlert = { Stderr.print("warning: \($0.message)") }
        let observed = ObservedGenerator(primary: primary, primaryVersion: registry.activeVersion, shadow: shadow, shadowVersion: registry.shadowVersion,
                                         log: log, audit: AuditBuffer(capacity: config.auditCapacity ?? 1000), settings: settings)
        // Only the commands that sample programs (they pass their grammar flags) load a grammar.
        let (grammar, gbnf) = try grammarOptions?.resolve(config: config, tokenizer: tokenizer, remote: primary.instance is RemoteInstance, quiet: quiet) ?? (nil, nil)
        return GenerationSetup(observed: observed, registry: registry, config: config, runLog: try observability.runLogSettings(config, paths: paths),
                               gating: observability.gating(config), paths: paths, index: index, grammar: grammar, gbnf: gbnf)
    }

    /// An explainer on the primary model (or on the documentation alone).
    func explainer(useModel: Bool = true) throws -> Explainer? {
        guard let index, let pool = observed.primary.monitorPool else { return nil }
        return Explainer(index: index, pool: pool, instance: useModel ? observed.primary.instance : nil, templates: observed.primary.templates)
    }

    /// Stops the models and writes what the inference log has queued.
    func close() {
        grammar?.persistMasks()
        observed.primary.instance.shutdown()
        observed.shadow?.instance.shutdown()
        observed.log?.close()
        if let dropped = observed.log?.dropped, dropped > 0 { Stderr.print("warning: the inference log dropped \(dropped) event(s): its queue was full") }
        if let e = observed.log?.lastError { Stderr.print("warning: the inference log could not write: \(e)") }
    }

    /// Writes the run log for `results`; returns its path, or nil when logging is off.
    @discardableResult
    func writeRunLog(command: String, started: Date, results: [GenerateResult], timings: PhaseTimings) -> URL? {
        guard runLog.level != .off else { return nil }
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let configHash = SHA256.hex(Array((try? encoder.encode(config)) ?? Data()))
        let meta = RunMetadata(command: command, version: BuildInfo.version, configSHA256: configHash, model: registry.activeVersion,
                               modelSHA256: try? ModelStore().fingerprint(URL(fileURLWithPath: registry.active)), gitCommit: BuildInfo.gitCommit(),
                               startedAt: started)
        var summary = ["tasks": "\(results.count)", "verified": "\(results.filter { $0.status == .verified }.count)", "compiled": "\(results.filter { $0.status == .compiled }.count)"]
        if let r = results.first, results.count == 1 {
            summary["status"] = r.status.rawValue
            summary["decision"] = r.gating?.decision.rawValue
        }
        let record = RunRecord(metadata: meta, level: runLog.level, timings: timings, totalSeconds: Date().timeIntervalSince(started), summary: summary,
                               body: GenerateRunBody(results: results, level: runLog.level, tokenizer: observed.primary.instance.tokenizer))
        do {
            return try RunLogger(settings: runLog).write(record)
        } catch {
            Stderr.print("warning: cannot write the run log: \(error)")
            return nil
        }
    }
}
