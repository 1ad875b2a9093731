import Foundation

/// The data folders that ship beside the code (prompt templates, grammars, the retrieval
/// pages), all found the same way: the environment variable when set, else the first folder of
/// that name above the running executable (a build inside the checkout, or an install's
/// `share/elixir-coder/`), else the checkout this binary was built from.
public enum DataFolder: String, CaseIterable, Sendable {
    case templates
    case grammars
    case ragIndex = "rag-index"

    /// Overrides the search.
    public var environmentVariable: String {
        switch self {
        case .templates: "ELIXIR_CODER_TEMPLATES"
        case .grammars: "ELIXIR_CODER_GRAMMARS"
        case .ragIndex: "ELIXIR_CODER_RAG_INDEX"
        }
    }

    /// A file every copy of the folder has, to tell it from a same-named folder of something else.
    var marker: String {
        switch self {
        case .templates: "system.mustache"
        case .grammars: "elixir.ebnf"
        case .ragIndex: "credo"
        }
    }

    /// The folder, or nil when none of the places has it.
    public func locate(environment: [String: String] = ProcessInfo.processInfo.environment,
                       executable: URL = URL(fileURLWithPath: CommandLine.arguments[0])) -> URL? {
        if let v = environment[environmentVariable], !v.isEmpty { return URL(fileURLWithPath: v) }
        return candidates(executable: executable).first { FileManager.default.fileExists(atPath: $0.appendingPathComponent(marker).path) }
    }

    /// Where the search looks, in order (after the environment variable).
    public func candidates(executable: URL = URL(fileURLWithPath: CommandLine.arguments[0])) -> [URL] {
        var out: [URL] = []
        var dir = executable.resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<6 {
            out.append(dir.appendingPathComponent(rawValue))
            out.append(dir.appendingPathComponent("share/elixir-coder").appendingPathComponent(rawValue))
            dir = dir.deletingLastPathComponent()
        }
        let checkout = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        out.append(checkout.appendingPathComponent(rawValue))
        return out
    }

    /// What to tell a user when the folder is missing.
    public var missingMessage: String {
        "cannot find the \(rawValue)/ folder (looked above the executable and in the source checkout); set \(environmentVariable) to it"
    }
}
