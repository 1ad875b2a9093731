import ArgumentParser
import Foundation

/// A bench task set: JSON lines, each with a `task` (and an `id` the benches do not need).
enum TaskSet {
    /// The tasks of the first `limit` lines of `path`; a line without a `task` is passed over.
    /// - Throws: a `ValidationError` naming the file when it cannot be read.
    static func tasks(_ path: String, limit: Int) throws -> [String] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw ValidationError("cannot read \(path)") }
        return text.split(separator: "\n").prefix(limit).compactMap { line in
            (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["task"] as? String
        }
    }
}
