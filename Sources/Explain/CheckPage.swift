import Foundation

/// One page of `rag-index/`: our documentation of a check, parsed from Markdown with front matter.
public struct CheckPage: Sendable, Codable, Equatable {
    public var id: String
    public var title: String
    /// credo, sobelow, builtin or syntax.
    public var source: String
    public var category: String
    public var ruleID: String?
    /// `CWE-NNN`, or nil when none applies.
    public var cwe: String?
    public var related: [String]
    /// Section heading ("What it detects", "Why it matters", "How to fix", "Bad", "Good") to its text.
    public var sections: [String: String]
    /// Path relative to the index root, for citations.
    public var path: String

    public var what: String { sections["What it detects"] ?? "" }
    public var why: String { sections["Why it matters"] ?? "" }
    public var howToFix: String { sections["How to fix"] ?? "" }
    public var badExample: String? { sections["Bad"].flatMap(Self.codeBlock) }
    public var goodExample: String? { sections["Good"].flatMap(Self.codeBlock) }

    /// Parses a page; throws a message naming the file and what is missing.
    public init(markdown: String, path: String) throws {
        self.path = path
        let lines = markdown.components(separatedBy: "\n")
        guard lines.first == "---", let close = lines.dropFirst().firstIndex(of: "---") else {
            throw ExplainError("\(path): no front matter (a --- block at the top)")
        }
        var meta: [String: String] = [:]
        for line in lines[1..<close] {
            guard let colon = line.firstIndex(of: ":") else { continue }
            meta[String(line[..<colon]).trimmingCharacters(in: .whitespaces)] = String(line[line.index(after: colon)...]).trimmingCharacters(in: .whitespaces)
        }
        guard let id = meta["id"], !id.isEmpty, let title = meta["title"], let source = meta["source"], let category = meta["category"] else {
            throw ExplainError("\(path): front matter needs id, title, source and category")
        }
        self.id = id
        self.title = title
        self.source = source
        self.category = category
        ruleID = meta["rule_id"].flatMap { $0.isEmpty || $0 == "none" ? nil : $0 }
        cwe = meta["cwe"].flatMap { $0.hasPrefix("CWE-") ? $0 : nil }
        related = (meta["related"] ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        var sections: [String: String] = [:]
        var current: String?
        var body: [String] = []
        func flush() {
            if let current { sections[current] = body.joined(separator: "\n").trimmingCharacters(in: .whitespacesAndNewlines) }
            body = []
        }
        for line in lines[(close + 1)...] {
            if line.hasPrefix("## ") {
                flush()
                current = String(line.dropFirst(3)).trimmingCharacters(in: .whitespaces)
            } else if current != nil {
                body.append(line)
            }
        }
        flush()
        self.sections = sections
    }

    /// The first fenced code block's contents.
    static func codeBlock(_ text: String) -> String? {
        guard let open = text.range(of: "```") else { return nil }
        let afterFence = text[open.upperBound...]
        guard let newline = afterFence.firstIndex(of: "\n"), let close = afterFence.range(of: "\n```") else { return nil }
        return String(afterFence[afterFence.index(after: newline)..<close.lowerBound]) + "\n"
    }

    /// Every page under `root`, sorted by id.
    public static func loadAll(from root: URL) throws -> [CheckPage] {
        guard let walker = FileManager.default.enumerator(at: root, includingPropertiesForKeys: nil) else {
            throw ExplainError("\(root.path): the documentation folder does not exist")
        }
        var pages: [CheckPage] = []
        for case let url as URL in walker where url.pathExtension == "md" && url.lastPathComponent != "README.md" {
            let rel = String(url.path.dropFirst(root.path.count)).trimmingCharacters(in: CharacterSet(charactersIn: "/"))
            pages.append(try CheckPage(markdown: try String(contentsOf: url, encoding: .utf8), path: rel))
        }
        return pages.sorted { $0.id < $1.id }
    }
}

/// Why an explanation or the index could not be made.
public struct ExplainError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ d: String) { description = d }
}
