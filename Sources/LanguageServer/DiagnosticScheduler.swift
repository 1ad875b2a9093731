import Checks
import Foundation
import RPC

/// Runs the checks on a document after it stops changing and publishes what they found.
///
/// Each change replaces the document's pending run (the older one is cancelled: its result, if
/// the checker is already working on it, is dropped), so while someone types only the last
/// state is checked, and it is always published. A run publishes only if the document is still
/// at the version it checked.
public final class DiagnosticScheduler: @unchecked Sendable {
    /// How long a document must be still before it is checked.
    public let delay: Duration
    private let store: DocumentStore
    private let diagnose: @Sendable (String, String) async throws -> [Finding]
    private let publish: @Sendable (String, Int?, [JSONValue]) async -> Void
    private let lock = NSLock()
    private var runs: [String: Task<Void, Never>] = [:]

    /// - Parameters:
    ///   - diagnose: the checks on a text (the document's uri, its text).
    ///   - publish: sends `textDocument/publishDiagnostics` (uri, version, diagnostics).
    public init(store: DocumentStore, delay: Duration, diagnose: @escaping @Sendable (String, String) async throws -> [Finding],
                publish: @escaping @Sendable (String, Int?, [JSONValue]) async -> Void) {
        self.store = store
        self.delay = delay
        self.diagnose = diagnose
        self.publish = publish
    }

    /// Replaces `uri`'s pending run with one that starts after `delay` (nil: this one's `delay`).
    public func schedule(_ uri: String, after wait: Duration? = nil) {
        let wait = wait ?? delay
        let task = Task { [store, diagnose, publish] in
            if wait > .zero {
                do { try await Task.sleep(for: wait) } catch { return }
            }
            guard let document = store.document(uri) else { return }
            let findings: [Finding]
            do {
                findings = try await diagnose(uri, document.text)
            } catch {
                // The checker could not judge it (too large, crashed): say so where the user looks.
                findings = [Finding(source: .builtin, check: "ElixirCoder.CheckFailed", line: 1, message: "the checks could not run on this file: \(error)")]
            }
            guard !Task.isCancelled else { return }
            let published = DocumentStore.Published(version: document.version, text: document.text, findings: findings)
            guard store.recordPublished(uri, published) else { return }
            await publish(uri, document.version, findings.map { $0.diagnostic(in: document) })
        }
        lock.lock()
        let old = runs.updateValue(task, forKey: uri)
        lock.unlock()
        old?.cancel()
    }

    /// Cancels `uri`'s pending run and clears its diagnostics (the document was closed).
    public func clear(_ uri: String) async {
        take(uri)?.cancel()
        await publish(uri, nil, [])
    }

    private func take(_ uri: String) -> Task<Void, Never>? {
        lock.lock()
        defer { lock.unlock() }
        return runs.removeValue(forKey: uri)
    }

    /// Cancels every pending run (shutdown).
    public func cancelAll() {
        lock.lock()
        let all = runs.values
        runs.removeAll()
        lock.unlock()
        all.forEach { $0.cancel() }
    }
}
