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
    /// This installation's secret for hashing tasks.
    public var taskHashKeyFile: URL { state.appendingPathComponent("task-hash.key") }

    /// The installation's secret for task hashes, made (32 random bytes, readable by the owner
    /// only) on first use. Without it, anyone holding a log could confirm a guessed task by
    /// hashing it; with it, only this installation can. Empty when it cannot be made or read.
    public func taskHashKey() -> [UInt8] {
        if let data = FileManager.default.contents(atPath: taskHashKeyFile.path), data.count == 32 { return Array(data) }
        var generator = SystemRandomNumberGenerator()
        let key = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        try? FileManager.default.createDirectory(at: state, withIntermediateDirectories: true)
        guard FileManager.default.createFile(atPath: taskHashKeyFile.path, contents: Data(key), attributes: [.posixPermissions: 0o600]) else { return [] }
        // Two processes starting at once: whichever file won is the key.
        return FileManager.default.contents(atPath: taskHashKeyFile.path).map(Array.init) ?? key
    }
}
