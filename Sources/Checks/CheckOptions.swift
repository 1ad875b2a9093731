import Foundation

/// How one file is judged: its kind, Credo's strictness, and the user's own tool configuration.
public struct CheckOptions: Sendable, Equatable {
    public var kind: SourceKind
    /// true: every priority, as `mix credo --strict`; false: Credo's default, low-priority checks hidden
    /// (unless `.credo.exs` says `strict: true`); nil: every finding, unfiltered (what the pipeline wants).
    public var strict: Bool?
    /// The text of the `.credo.exs` that applies, read as data by the checker (never evaluated).
    public var credoConfig: String?
    /// The file's path relative to the folder holding `.credo.exs`, for its `files:` filters.
    public var credoPath: String?
    /// The text of the `.sobelow-conf` that applies.
    public var sobelowConfig: String?
    /// Honour `@sobelow_skip` / `# sobelow_skip` annotations, as `mix sobelow --skip`.
    public var sobelowSkip: Bool
    /// The file's path as given, when there is a file: Sobelow's HTTPS check reads only `config/prod.exs`.
    public var filePath: String?

    public init(kind: SourceKind = .code, strict: Bool? = nil, credoConfig: String? = nil, credoPath: String? = nil,
                sobelowConfig: String? = nil, sobelowSkip: Bool = false, filePath: String? = nil) {
        self.kind = kind
        self.strict = strict
        self.credoConfig = credoConfig
        self.credoPath = credoPath
        self.sobelowConfig = sobelowConfig
        self.sobelowSkip = sobelowSkip
        self.filePath = filePath
    }

    /// The request's argument field: the kind, then `;key=base64` options.
    var argument: String {
        var parts = [kind.rawValue]
        func add(_ key: String, _ value: String?) {
            if let value { parts.append("\(key)=\(Data(value.utf8).base64EncodedString())") }
        }
        add("credo", credoConfig)
        add("path", credoPath)
        add("sobelow", sobelowConfig)
        add("strict", strict.map { $0 ? "1" : "0" })
        add("skip", sobelowSkip ? "1" : nil)
        add("file", filePath)
        return parts.joined(separator: ";")
    }

    /// The options for a file on disk: its kind, and the `.credo.exs` (or `config/.credo.exs`) and
    /// `.sobelow-conf` nearest above it, as Credo and Sobelow find theirs.
    public static func forFile(_ path: String, strict: Bool?, sobelowSkip: Bool = false) -> CheckOptions {
        let file = URL(fileURLWithPath: path).standardizedFileURL
        let kind: SourceKind = path.hasSuffix(".exs") && path.contains("config") ? .config : .code
        var options = CheckOptions(kind: kind, strict: strict, sobelowSkip: sobelowSkip, filePath: file.path)
        let fm = FileManager.default
        var dir = file.deletingLastPathComponent()
        while true {
            if options.credoConfig == nil {
                for candidate in [".credo.exs", "config/.credo.exs"] {
                    let url = dir.appendingPathComponent(candidate)
                    if let text = try? String(contentsOf: url, encoding: .utf8) {
                        options.credoConfig = text
                        options.credoPath = String(file.path.dropFirst(dir.path.count)).trimmingCharacters(in: CharacterSet(charactersIn: "/"))
                        break
                    }
                }
            }
            if options.sobelowConfig == nil, let text = try? String(contentsOf: dir.appendingPathComponent(".sobelow-conf"), encoding: .utf8) {
                options.sobelowConfig = text
            }
            // Both tools stop at the project root (the folder with mix.exs) or the file system's.
            let atRoot = fm.fileExists(atPath: dir.appendingPathComponent("mix.exs").path) || dir.path == "/"
            if atRoot || (options.credoConfig != nil && options.sobelowConfig != nil) { break }
            dir = dir.deletingLastPathComponent()
        }
        return options
    }
}

/// Credo's exit status: one bit per category with findings (consistency 1, design 2, readability 4,
/// refactor 8, warning 16), ORed, as `mix credo` exits.
public enum CredoExitStatus {
    public static let bits: [String: Int32] = ["consistency": 1, "design": 2, "readability": 4, "refactor": 8, "warning": 16]

    /// The status for these findings (0 when no Credo finding is among them).
    public static func status(for findings: [Finding]) -> Int32 {
        findings.filter { $0.source == .credo }.reduce(0) { $0 | (bits[$1.category] ?? 0) }
    }
}
