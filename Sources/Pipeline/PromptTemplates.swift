import ElixirCoderCore
import Foundation
import Mustache

/// The Mustache templates in `templates/` that shape every prompt, plus the few-shot examples.
public struct PromptTemplates: Sendable {
    public let directory: URL
    private let library: MustacheLibrary
    /// Few-shot examples: (task, code) from `templates/examples/*.ex`.
    public let examples: [(task: String, code: String)]

    /// Loads from `directory`, or finds `templates/` (see `DataFolder`).
    public init(directory: URL? = nil) throws {
        guard let dir = directory ?? DataFolder.templates.locate() else { throw PipelineError(DataFolder.templates.missingMessage) }
        self.directory = dir
        var library = MustacheLibrary()
        let templateFiles = ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []).filter { $0.hasSuffix(".mustache") }
        for f in templateFiles {
            let text = try String(contentsOf: dir.appendingPathComponent(f), encoding: .utf8)
            do {
                library.register(try MustacheTemplate(string: text), named: String(f.dropLast(".mustache".count)))
            } catch {
                throw PipelineError("template \(f) in \(dir.path) does not parse: \(error)")
            }
        }
        self.library = library
        for name in ["system", "generate", "repair"] where library.getTemplate(named: name) == nil {
            throw PipelineError("template \(name).mustache is missing from \(dir.path)")
        }
        let exampleDir = dir.appendingPathComponent("examples")
        let files = ((try? FileManager.default.contentsOfDirectory(atPath: exampleDir.path)) ?? []).filter { $0.hasSuffix(".ex") }.sorted()
        examples = files.compactMap { f in
            guard let text = try? String(contentsOf: exampleDir.appendingPathComponent(f), encoding: .utf8) else { return nil }
            // First line "# Task: ..." names the task; the rest is the code.
            let lines = text.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false)
            guard lines.count == 2, lines[0].hasPrefix("# Task: ") else { return nil }
            return (String(lines[0].dropFirst(8)), String(lines[1]).trimmingCharacters(in: .whitespacesAndNewlines))
        }
    }

    public func render(_ name: String, _ values: [String: Any]) -> String {
        (library.render(values, withTemplate: name) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// A pipeline failure with a message that says what to do.
public struct PipelineError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// A task (with its context) too large for the model: refused before any work, with the reason.
public struct PromptTooLong: Error, CustomStringConvertible, Sendable {
    public let message: String
    public var description: String { message }
}
