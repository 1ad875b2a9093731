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
        if let m = env["ELIXIR_CODER_MODEL"], !m.isEmpty { model = m }
        threads = try num("ELIXIR_CODER_THREADS") ?? threads
        temperature = try num("ELIXIR_CODER_TEMPERATURE") ?? temperature
        topK = try num("ELIXIR_CODER_TOP_K") ?? topK
        topP = try num("ELIXIR_CODER_TOP_P") ?? topP
        minP = try num("ELIXIR_CODER_MIN_P") ?? minP
        seed = try num("ELIXIR_CODER_SEED") ?? seed
        maxTokens = try num("ELIXIR_CODER_MAX_TOKENS") ?? maxTokens
    }
}

/// A config file or environment variable that cannot be used.
public struct ConfigurationError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public var description: String { message }
}
