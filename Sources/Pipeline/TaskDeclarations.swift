import Foundation

/// A struct the task asks the new module to define, read from its prose ("defines a struct with
/// the fields `x` and `y` (both defaulting to 0)").
public struct StructDefinition: Sendable, Codable, Equatable {
    /// A field and its default as Elixir source.
    public struct Field: Sendable, Codable, Equatable {
        public var name: String
        public var defaultValue: String
    }

    public var fields: [Field]

    /// The arguments of `defstruct`: `x: 0, y: 0`.
    public var keywords: String {
        fields.map { "\($0.name): \($0.defaultValue)" }.joined(separator: ", ")
    }

    /// The struct the task asks for ("defines a struct with", "define a struct with"), up to the
    /// end of that sentence or the first function it names: each field in backticks, with
    /// "(default X)" after it or a shared "(both defaulting to X)"; nil when the task defines
    /// none. A struct the task only mentions ("given a `%User{}` struct with ...") belongs to
    /// another module.
    public static func parse(task: String) -> StructDefinition? {
        guard let start = task.range(of: #"defin\w*\s+(?:a|the)\s+struct\s+with"#, options: [.regularExpression, .caseInsensitive]) else { return nil }
        var fragment = task[start.upperBound...]
        for end in [" function", ". ", ".\n", "\n"] {
            if let r = fragment.range(of: end) { fragment = fragment[..<r.lowerBound] }
        }
        let text = String(fragment)
        let shared = TaskContract.firstMatch(#"\((?:both|all) default(?:ing|s)? to ([^)]+)\)"#, text).map(literal) ?? "nil"
        var fields: [Field] = []
        for m in TaskContract.matches(#"`([a-z_][A-Za-z0-9_]*)`(?:\s*\(default ([^)]+)\))?"#, text) {
            let given = m.count > 2 && !m[2].isEmpty ? literal(m[2]) : shared
            if !fields.contains(where: { $0.name == m[1] }) { fields.append(Field(name: m[1], defaultValue: given)) }
        }
        return fields.isEmpty ? nil : StructDefinition(fields: fields)
    }

    /// `` `%{}` `` and `0` alike: the source without its code span.
    static func literal(_ text: String) -> String {
        text.trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "`"))
    }
}

/// A keyword option the task documents with its default ("`:greeting` (default "Hello")").
public struct DocumentedOption: Sendable, Codable, Equatable {
    public var key: String
    /// The default as Elixir source.
    public var defaultValue: String

    /// Every option in `task` written as `` `:key` (default VALUE) ``, once each.
    public static func all(in task: String) -> [DocumentedOption] {
        var found: [DocumentedOption] = []
        for m in TaskContract.matches(#"`:([a-z_][A-Za-z0-9_]*[?!]?)`\s*\(default ([^)]+)\)"#, task) where m.count > 2 {
            if !found.contains(where: { $0.key == m[1] }) {
                found.append(DocumentedOption(key: m[1], defaultValue: StructDefinition.literal(m[2])))
            }
        }
        return found
    }
}
