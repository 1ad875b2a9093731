import Foundation

/// Where ElixirCoder keeps models, caches, state and configuration.
///
/// `ELIXIR_CODER_HOME` moves everything under one directory (tests and CI use it);
/// otherwise the XDG-style defaults apply.
public struct Paths: Sendable {
    public let cache: URL
    public let state: URL
    public let configFile: URL

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        let home = URL(fileURLWithPath: environment["HOME"] ?? NSHomeDirectory())
        if let root = environment["ELIXIR_CODER_HOME"], !root.isEmpty {
            let r = URL(fileURLWithPath: root)
            cache = r
            state = r.appendingPathComponent("state")
        } else {
            cache = home.appendingPathComponent(".cache/elixir-coder")
            state = home.appendingPathComponent(".local/state/elixir-coder")
        }
        if let c = environment["ELIXIR_CODER_CONFIG"], !c.isEmpty {
            configFile = URL(fileURLWithPath: c)
        } else {
            let xdg = environment["XDG_CONFIG_HOME"].map { URL(fileURLWithPath: $0) } ?? home.appendingPathComponent(".config")
            configFile = xdg.appendingPathComponent("elixir-coder/config.json")
        }
    }

    public var models: URL { cache.appendingPathComponent("models") }
    public var data: URL { cache.appendingPathComponent("data") }
    /// The SQLite inference log.
    public var inferenceLog: URL { state.appendingPathComponent("inference.sqlite") }
}
