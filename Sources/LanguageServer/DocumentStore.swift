import Checks
import Foundation

/// The open documents and the findings last published for each, shared by the ordered
/// notification handlers (which must apply edits before the next message is read, so they
/// cannot wait for an actor) and the concurrent request handlers: a lock, held only for copies.
public final class DocumentStore: @unchecked Sendable {
    /// What the diagnostics of one document were computed from.
    public struct Published: Sendable {
        public var version: Int
        public var text: String
        public var findings: [Finding]
    }

    private let lock = NSLock()
    private var documents: [String: TextDocument] = [:]
    private var published: [String: Published] = [:]

    public init() {}

    private func locked<T>(_ body: () throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }

    public func open(_ document: TextDocument) {
        locked {
            documents[document.uri] = document
            published[document.uri] = nil
        }
    }

    /// Applies `body` to the open document `uri`; false when it is not open.
    @discardableResult
    public func update(_ uri: String, _ body: (inout TextDocument) -> Void) -> Bool {
        locked {
            guard var d = documents[uri] else { return false }
            body(&d)
            documents[uri] = d
            return true
        }
    }

    public func close(_ uri: String) -> Bool {
        locked {
            published[uri] = nil
            return documents.removeValue(forKey: uri) != nil
        }
    }

    public func document(_ uri: String) -> TextDocument? { locked { documents[uri] } }

    public var count: Int { locked { documents.count } }

    /// Records what was published for `uri`, if the document is still open at that version.
    public func recordPublished(_ uri: String, _ p: Published) -> Bool {
        locked {
            guard documents[uri]?.version == p.version else { return false }
            published[uri] = p
            return true
        }
    }

    public func lastPublished(_ uri: String) -> Published? { locked { published[uri] } }
}
