import Clarification
import Engine
import ElixirCoderCore
import Explain
import Foundation
import Grammar
import Pipeline
import RemoteServing
import Serving
import Telemetry
import Tokenizer

/// What a generating front end records and how it gates answers, resolved once from flags, environment and config file.
public struct ObservabilitySettings: Sendable {
    public var runLog: RunLogSettings
    /// Whether requests go to the SQLite inference log.
    public var inferenceLog: Bool
    /// Keep a short preview of each task in the inference log (off: only a keyed hash).
    public var promptPreview: Bool
    /// The confidence gate's thresholds; nil turns the gate off.
    public var gating: GatingThresholds?
    /// A GGUF path, known name or server URL that answers each request afterwards, for comparison.
    public var shadowModel: String?

    /// Flag values (nil or false when not given) over `config`.
    public init(config: Configuration, paths: Paths = Paths(), logLevel: String? = nil, logDirectory: String? = nil, noInferenceLog: Bool = false,
                promptPreview: Bool = false, noGate: Bool = false, shadowModel: String? = nil) throws {
        let raw = logLevel ?? config.logLevel ?? LogLevel.minimal.rawValue
        guard let level = LogLevel(rawValue: raw) else {
            throw ConfigurationError(message: "log level '\(raw)' is not one of \(LogLevel.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let dir = logDirectory ?? config.logDirectory
        runLog = RunLogSettings(level: level, directory: dir.map { URL(fileURLWithPath: $0) } ?? paths.state.appendingPathComponent("runs"),
                                maxFiles: config.logMaxFiles ?? 50)
        inferenceLog = !noInferenceLog && config.inferenceLog != false
        self.promptPreview = promptPreview || (config.promptPreview ?? false)
        if noGate || config.gating == false {
            gating = nil
        } else {
            var g = GatingThresholds()
            g.reflectBelowAvgLogprob = config.gateReflectBelowAvgLogprob ?? g.reflectBelowAvgLogprob
            g.retrieveAboveEntropy = config.gateRetrieveAboveEntropy ?? g.retrieveAboveEntropy
            g.abstainBelowTop1 = config.gateAbstainBelowTop1 ?? g.abstainBelowTop1
            gating = g
        }
        self.shadowModel = shadowModel ?? config.shadowModel
    }

    /// No run log, no inference log: for benchmarks and one-off tools.
    public static func silent(config: Configuration) throws -> ObservabilitySettings {
        try ObservabilitySettings(config: config, logLevel: LogLevel.off.rawValue, noInferenceLog: true)
    }
}

/// Everything a generating command needs: the observed generator, its registry and settings.
public struct GenerationSetup: Sendable {
    public let observed: ObservedGenerator
    public let registry: ModelRegistry
    public let config: Configuration
    public let runLog: RunLogSettings
    public let gating: GatingThresholds?
    public let paths: Paths

    /// The retrieval index, when it can be opened (the gate's retrieve action and `--explain` use it).
    public let index: KnowledgeIndex?
    /// The grammar candidates are sampled under: a mask for the embedded model, GBNF for a server.
    public let grammar: GrammarEngine?
    public let gbnf: String?
    /// Shadow comparisons started after answers, still running.
    let shadows = ShadowRuns()
    /// One embedder per setup, made on first use: its context's buffers and threads are not free.
    let embedders = EmbedderSlot()

    /// The one way every front end generates: the answer, then (when a shadow model is
    /// configured) the shadow on the same task in the background, so it never delays the answer.
    public func generate(task: String, options: GenerateOptions, progress: @escaping @Sendable (String) -> Void = { _ in },
                         onToken: (@Sendable (Int, Int, LiveDelta) -> Void)? = nil) async throws -> GenerateResult {
        let result = try await observed.generate(task: task, options: options, progress: progress, onToken: onToken)
        if observed.shadow != nil {
            let observed = self.observed
            await shadows.start { await observed.compareShadow(task: task, options: options, primary: result) }
        }
        return result
    }

    /// Waits for the shadow comparisons still running (each ends by the shadow timeout) and returns them.
    public func finishShadows() async -> [ShadowOutcome] {
        await shadows.finish()
    }

    /// Options for a generate request: the config file's and environment's settings, this
    /// setup's gate and grammar; flags and request fields go on top.
    public func options() throws -> GenerateOptions {
        var o = try GenerateOptions(config: config)
        o.gating = gating
        o.grammar = grammar
        o.gbnf = gbnf
        return o
    }

    /// - Parameter grammar: the grammar's name for commands that sample programs (`.some(nil)` is
    ///   the default grammar); nil loads none.
    public static func make(config: Configuration, model: ModelSettings, observability: ObservabilitySettings, grammar: String?? = nil,
                            paths: Paths = Paths(), quiet: Bool = false, contextFiles: [String: String] = [:]) throws -> GenerationSetup {
        let remoteShadow = observability.shadowModel.flatMap { RemoteSpec.isURL($0) ? $0 : nil }
        var (registry, _, shadowURL) = try ModelRegistry.resolve(active: model.model, shadow: remoteShadow == nil ? observability.shadowModel : nil)
        let loaded = model.backendURL == nil ? try model.load(quiet: quiet) : nil
        let tokenizer = try loaded?.tokenizer ?? model.tokenizer()
        let backend: any InferenceBackend
        if let url = model.backendURL {
            let remote = try RemoteSpec(url: url, model: model.backendModel, keyVariable: model.apiKeyEnv)
            backend = remote.instance(name: "primary", tokenizer: tokenizer)
            registry.active = url
            registry.activeVersion = remote.version
        } else {
            backend = loaded!.instance(name: "primary")
        }
        var primary = try Components.codeGenerator(backend)
        var index: KnowledgeIndex?
        do {
            index = try Components.knowledgeIndex(paths: paths, quiet: quiet)
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
            let remote = try RemoteSpec(url: remoteShadow, model: nil, keyVariable: model.apiKeyEnv)
            shadow = try Components.codeGenerator(remote.instance(name: "shadow", tokenizer: tokenizer))
            registry.shadow = remoteShadow
            registry.shadowVersion = remote.version
            registry.shadowEnabled = true
        } else if let shadowURL {
            // The shadow gets one thread so it competes less with the primary.
            shadow = try Components.codeGenerator(model.with(model: shadowURL.path, threads: 1).load(quiet: quiet).instance(name: "shadow"))
        }
        var log: InferenceLog?
        if observability.inferenceLog {
            var o = InferenceLog.Options()
            o.tokenTable = config.tokenTable ?? false
            o.retentionDays = config.retentionDays ?? 30
            log = try InferenceLog(path: paths.inferenceLog.path, options: o)
        }
        var settings = ObservationSettings()
        settings.promptPreview = observability.promptPreview
        settings.tokenTable = config.tokenTable ?? false
        settings.shadowTimeout = .milliseconds(Int((config.shadowTimeoutSeconds ?? 120) * 1000))
        settings.abstainAlertRate = config.abstainAlertRate ?? 0.3
        settings.onAlert = { Stderr.print("warning: \($0.message)") }
        let observed = ObservedGenerator(primary: primary, primaryVersion: registry.activeVersion, shadow: shadow, shadowVersion: registry.shadowVersion,
                                         log: log, audit: AuditBuffer(capacity: config.auditCapacity ?? 1000), settings: settings)
        let (engine, gbnf) = try grammar.map { try Components.grammar($0, tokenizer: tokenizer, remote: model.backendURL != nil, quiet: quiet) } ?? (nil, nil)
        return GenerationSetup(observed: observed, registry: registry, config: config, runLog: observability.runLog,
                               gating: observability.gating, paths: paths, index: index, grammar: engine, gbnf: gbnf)
    }

    /// An explainer on the primary model (or on the documentation alone).
    public func explainer(useModel: Bool = true) throws -> Explainer? {
        guard let index, let pool = observed.primary.monitorPool else { return nil }
        return Explainer(index: index, pool: pool, instance: useModel ? observed.primary.instance : nil, templates: observed.primary.templates)
    }

    /// A clarifier that samples with the primary model and reads its embedding of the task with the
    /// trained classifier (`templates/clarify_classifier.json`); without a local model or that file,
    /// it falls back to the word list.
    public func clarifier(_ settings: ClarifySettings) throws -> Clarifier {
        guard let pool = observed.primary.monitorPool else { throw ConfigurationError(message: "clarification needs the Elixir checker") }
        let directory = observed.primary.templates.directory
        let classifierFile = directory.appendingPathComponent(TaskClassifier.fileName)
        let classifier = FileManager.default.fileExists(atPath: classifierFile.path) ? try TaskClassifier(file: classifierFile) : nil
        return Clarifier(generator: observed.primary, pool: pool,
                         questions: try QuestionTemplates(file: directory.appendingPathComponent("clarify.json")),
                         settings: settings, embedder: embedders.embedder(for: observed.primary.instance), classifier: classifier)
    }

    /// Stops the models and writes what the inference log has queued.
    public func close() {
        grammar?.persistMasks()
        observed.primary.instance.shutdown()
        observed.shadow?.instance.shutdown()
        observed.log?.close()
        if let dropped = observed.log?.dropped, dropped > 0 { Stderr.print("warning: the inference log dropped \(dropped) event(s): its queue was full") }
        if let e = observed.log?.lastError { Stderr.print("warning: the inference log could not write: \(e)") }
    }

    /// Writes the run log for `results`; returns its path, or nil when logging is off.
    @discardableResult
    public func writeRunLog(command: String, started: Date, results: [GenerateResult], timings: PhaseTimings) -> URL? {
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

/// Shadow comparisons in flight, so a command can wait for them before it exits.
actor ShadowRuns {
    private var running: [Task<ShadowOutcome?, Never>] = []

    func start(_ work: @escaping @Sendable () async -> ShadowOutcome?) {
        running.append(Task(priority: .background, operation: work))
    }

    func finish() async -> [ShadowOutcome] {
        let tasks = running
        running = []
        var outcomes: [ShadowOutcome] = []
        for t in tasks { if let o = await t.value { outcomes.append(o) } }
        return outcomes
    }
}

/// Makes the clarifier's embedder once, on the primary model's weights (none for a remote backend).
final class EmbedderSlot: @unchecked Sendable {
    private let lock = NSLock()
    private var made: TextEmbedder??

    func embedder(for backend: any InferenceBackend) -> TextEmbedder? {
        lock.lock()
        defer { lock.unlock() }
        if let made { return made }
        let e = (backend as? ModelInstance).map { TextEmbedder(model: $0.model, threads: $0.settings.threads, kernels: $0.settings.kernels) }
        made = .some(e)
        return e
    }
}
