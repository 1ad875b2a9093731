import Foundation

/// A piece of reference text and where it came from.
public struct Passage: Sendable, Codable, Equatable {
    public var source: String
    public var title: String
    public var text: String
    public var score: Double
    /// The document's id in its index (a check id, a CWE id), when it has one.
    public var id: String?
    /// What kind of document: `check`, `cwe`, `file`.
    public var kind: String?

    public init(source: String, title: String, text: String, score: Double, id: String? = nil, kind: String? = nil) {
        self.source = source
        self.title = title
        self.text = text
        self.score = score
        self.id = id
        self.kind = kind
    }
}

/// Finds reference passages for a query: the seam between the pipeline and an index.
public protocol PassageRetriever: Sendable {
    func passages(for query: String, limit: Int) async throws -> [Passage]
}

/// Retrieval over the user's own files: paragraphs ranked by shared words with the query.
public struct ContextFileRetriever: PassageRetriever {
    let chunks: [(source: String, text: String, words: Set<String>)]

    public init(files: [String: String]) {
        chunks = files.sorted { $0.key < $1.key }.flatMap { path, text in
            text.components(separatedBy: "\n\n")
                .map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
                .filter { !$0.isEmpty }
                .map { (path, $0, Self.words($0)) }
        }
    }

    public func passages(for query: String, limit: Int) async throws -> [Passage] {
        let q = Self.words(query)
        var scored: [(index: Int, score: Double)] = []
        for (i, c) in chunks.enumerated() {
            let shared = Double(c.words.intersection(q).count)
            if shared > 0 { scored.append((i, shared / Double(c.words.count).squareRoot())) }
        }
        scored.sort { $0.score > $1.score }
        return scored.prefix(limit).map { hit in
            let c = chunks[hit.index]
            return Passage(source: c.source, title: (c.source as NSString).lastPathComponent, text: c.text, score: hit.score, kind: "file")
        }
    }

    static func words(_ s: String) -> Set<String> {
        Set(s.lowercased().split { !$0.isLetter && !$0.isNumber && $0 != "_" }.map(String.init).filter { $0.count > 2 })
    }
}

/// Several retrievers in order of preference (the user's files before the shared index).
public struct MergedRetriever: PassageRetriever {
    public let parts: [any PassageRetriever]

    public init(_ parts: [any PassageRetriever]) {
        self.parts = parts
    }

    public func passages(for query: String, limit: Int) async throws -> [Passage] {
        var out: [Passage] = []
        for p in parts where out.count < limit {
            out += try await p.passages(for: query, limit: limit - out.count)
        }
        return out
    }
}
