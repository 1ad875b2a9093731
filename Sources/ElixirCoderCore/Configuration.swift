import Foundation

/// Settings a user can give in the config file or the environment; flags override both.
///
/// Precedence, lowest to highest: built-in defaults, config file
/// (`$ELIXIR_CODER_CONFIG` or `~/.config/elixir-coder/config.json`), environment
/// variables (`ELIXIR_CODER_*`), command-line flags.
public struct Configuration: Codable, Sendable, Equatable {
    /// A GGUF path or a known model name.
    public var model: String?
    public var threads: Int?
    public var temperature: Float?
    public var topK: Int?
    public var topP: Float?
    public var minP: Float?
    public var seed: UInt64?
    public var maxTokens: Int?
    /// An OpenAI-compatible server to generate with instead of the embedded model (e.g. `http://127.0.0.1:8080/v1`).
    public var backendURL: String?
    /// The model name to ask that server for.
    public var backendModel: String?
    /// The environment variable that holds the server's API key.
    public var backendAPIKeyEnv: String?
    /// A second model that answers each request after the primary, for comparison only.
    public var shadowModel: String?
    public var shadowTimeoutSeconds: Double?
    /// Run log detail: off, minimal, standard, detailed or debug.
    public var logLevel: String?
    public var logDirectory: String?
    public var logMaxFiles: Int?
    /// Record requests in the SQLite inference log (default true).
    public var inferenceLog: Bool?
    /// Keep a preview (under 128 characters) of each task in the log (default false).
    public var promptPreview: Bool?
    /// Keep per-token figures in the log (default false).
    public var tokenTable: Bool?
    public var retentionDays: Int?
    public var auditCapacity: Int?
    /// Warn when more than this share of recent requests abstained (default 0.3).
    public var abstainAlertRate: Double?
    /// Confidence gate: false turns it off; thresholds override the defaults.
    public var gating: Bool?
    /// Prompt-lookup drafts for small batches (default true); they change speed, not what is sampled.
    public var drafts: Bool?
    /// The kernels' instruction set: auto (the CPU's best), portable, avx2 or avx512vnni.
    public var instructionSet: String?
    public var gateReflectBelowAvgLogprob: Double?
    public var gateRetrieveAboveEntropy: Double?
    public var gateAbstainBelowTop1: Double?
    /// Per-token confidence repair: off, shadow or server (env LLM_REPAIR_MODE and the other LLM_* variables).
    public var repairMode: String?
    public var perTokenRepairThreshold: Float?
    public var maxAttemptsPerToken: Int?
    public var maxLiveRepairs: Int?
    public var serverMinP: Float?
    public var repeatHitsStopThreshold: Int?
    /// The grammar generate, batch and serve sample under: `elixir` (the default for the embedded
    /// model), an .ebnf file, or `off`. A server gets it as GBNF only when it is set.
    public var grammar: String?

    public init() {}

    /// Loads file then environment.
    public static func load(paths: Paths = Paths(), environment: [String: String] = ProcessInfo.processInfo.environment) throws -> Configuration {
        var c = Configuration()
        if FileManager.default.fileExists(atPath: paths.configFile.path) {
            do {
                c = try JSONDecoder().decode(Configuration.self, from: Data(contentsOf: paths.configFile))
            } catch {
                throw ConfigurationError(message: "\(paths.configFile.path): not a valid config file (\(error))")
            }
        }
        try c.apply(environment: environment)
        return c
    }

    mutating func apply(environment env: [String: String]) throws {
        func num<T: LosslessStringConvertible>(_ key: String) throws -> T? {
            guard let v = env[key], !v.isEmpty else { return nil }
            guard let n = T(v) else { throw ConfigurationError(message: "\(key)=\(v) is not a valid number") }
            return n
        }
        func text(_ key: String) -> String? { env[key].flatMap { $0.isEmpty ? nil : $0 } }
        func flag(_ key: String) throws -> Bool? {
            guard let v = text(key)?.lowercased() else { return nil }
            if ["1", "true", "yes", "on"].contains(v) { return true }
            if ["0", "false", "no", "off"].contains(v) { return false }
            throw ConfigurationError(message: "\(key)=\(v) is not a boolean (use true or false)")
        }
        model = text("ELIXIR_CODER_MODEL") ?? model
        // The registry's name for the primary model wins over the plain one.
        model = text("ELIXIR_CODER_ACTIVE_MODEL") ?? model
        shadowModel = text("ELIXIR_CODER_SHADOW_MODEL") ?? shadowModel
        backendURL = text("ELIXIR_CODER_BACKEND_URL") ?? backendURL
        backendModel = text("ELIXIR_CODER_BACKEND_MODEL") ?? backendModel
        backendAPIKeyEnv = text("ELIXIR_CODER_BACKEND_API_KEY_ENV") ?? backendAPIKeyEnv
        shadowTimeoutSeconds = try num("ELIXIR_CODER_SHADOW_TIMEOUT") ?? shadowTimeoutSeconds
        logLevel = text("ELIXIR_CODER_LOG_LEVEL") ?? logLevel
        logDirectory = text("ELIXIR_CODER_LOG_DIR") ?? logDirectory
        logMaxFiles = try num("ELIXIR_CODER_LOG_MAX_FILES") ?? logMaxFiles
        inferenceLog = try flag("ELIXIR_CODER_INFERENCE_LOG") ?? inferenceLog
        promptPreview = try flag("ELIXIR_CODER_PROMPT_PREVIEW") ?? promptPreview
        tokenTable = try flag("ELIXIR_CODER_TOKEN_TABLE") ?? tokenTable
        retentionDays = try num("ELIXIR_CODER_RETENTION_DAYS") ?? retentionDays
        auditCapacity = try num("ELIXIR_CODER_AUDIT_CAP") ?? auditCapacity
        abstainAlertRate = try num("ELIXIR_CODER_ABSTAIN_ALERT_RATE") ?? abstainAlertRate
        gating = try flag("ELIXIR_CODER_GATING") ?? gating
        drafts = try flag("ELIXIR_CODER_DRAFTS") ?? drafts
        instructionSet = text("ELIXIR_CODER_ISA") ?? instructionSet
        grammar = text("ELIXIR_CODER_GRAMMAR") ?? grammar
        threads = try num("ELIXIR_CODER_THREADS") ?? threads
        temperature = try num("ELIXIR_CODER_TEMPERATURE") ?? temperature
        topK = try num("ELIXIR_CODER_TOP_K") ?? topK
        topP = try num("ELIXIR_CODER_TOP_P") ?? topP
        minP = try num("ELIXIR_CODER_MIN_P") ?? minP
        seed = try num("ELIXIR_CODER_SEED") ?? seed
        maxTokens = try num("ELIXIR_CODER_MAX_TOKENS") ?? maxTokens
        // The confidence-repair design names its variables LLM_*.
        repairMode = text("LLM_REPAIR_MODE") ?? repairMode
        perTokenRepairThreshold = try num("LLM_PER_TOKEN_REPAIR_THRESHOLD") ?? perTokenRepairThreshold
        maxAttemptsPerToken = try num("LLM_MAX_ATTEMPTS_PER_TOKEN") ?? maxAttemptsPerToken
        maxLiveRepairs = try num("LLM_MAX_LIVE_REPAIRS") ?? maxLiveRepairs
        serverMinP = try num("LLM_SERVER_MIN_P") ?? serverMinP
        repeatHitsStopThreshold = try num("LLM_REPEAT_HITS_STOP_THRESHOLD") ?? repeatHitsStopThreshold
    }
}

/// A config file or environment variable that cannot be used.
public struct ConfigurationError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public var description: String { message }

    public init(message: String) {
        self.message = message
    }
}
