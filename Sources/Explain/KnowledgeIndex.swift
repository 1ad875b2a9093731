import ElixirCoderCore
import Foundation
import Pipeline
import SQLiteStore

/// Where the index's sources are.
public struct KnowledgeSources: Sendable {
    /// Our check documentation (`rag-index/`).
    public var pages: URL
    /// MITRE's CWE XML catalogue.
    public var cwe: URL

    public init(pages: URL, cwe: URL) {
        self.pages = pages
        self.cwe = cwe
    }

    /// The rag-index/ folder (see `DataFolder`), and the CWE file set-up fetched.
    public static func locate(paths: Paths = Paths()) throws -> KnowledgeSources {
        let fm = FileManager.default
        guard let pages = DataFolder.ragIndex.locate() else { throw ExplainError(DataFolder.ragIndex.missingMessage) }
        let cwe = paths.data.appendingPathComponent("cwec_v4.14.xml")
        guard fm.fileExists(atPath: cwe.path) else {
            throw ExplainError("the CWE catalogue is missing (\(cwe.path)); fetch it with: make setup (or scripts/setup.sh)")
        }
        return KnowledgeSources(pages: pages, cwe: cwe)
    }
}

/// A check's place in the ontology: its category, CWE and related checks.
public struct OntologyEntry: Sendable, Codable, Equatable {
    public var check: String
    public var title: String
    public var source: String
    public var category: String
    public var cwe: String?
    public var related: [String]
}

/// The retrieval index: SQLite FTS5 (BM25) over our check pages and the CWE catalogue, with
/// the ontology beside it. Built into the cache and rebuilt when its sources change.
public final class KnowledgeIndex: @unchecked Sendable, PassageRetriever {
    public let path: String
    private let db: SQLiteConnection
    private let lock = NSLock()

    /// Opens the index at `path`, building it first when it is missing or its sources changed.
    /// - Parameter progress: what is being built, for stderr.
    public init(path: String, sources: KnowledgeSources, progress: (String) -> Void = { _ in }) throws {
        self.path = path
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        db = try SQLiteConnection(path: path)
        let stamp = try Self.stamp(sources)
        let built = try? db.query("SELECT value FROM meta WHERE key = 'sources'").first?.first?.text
        if built != stamp { try build(sources, stamp: stamp, progress: progress) }
    }

    /// Fingerprint of the sources: every page's bytes and the catalogue's size and date.
    static func stamp(_ s: KnowledgeSources) throws -> String {
        var sha = SHA256()
        guard let walker = FileManager.default.enumerator(at: s.pages, includingPropertiesForKeys: nil) else {
            throw ExplainError("\(s.pages.path): the documentation folder does not exist")
        }
        // Bytes only: the pages are parsed when the index is (re)built, not on every open.
        let files = walker.compactMap { $0 as? URL }.filter { $0.pathExtension == "md" }.map(\.path).sorted()
        for path in files { sha.update(Array(path.dropFirst(s.pages.path.count).utf8) + Array(try Data(contentsOf: URL(fileURLWithPath: path)))) }
        let a = try FileManager.default.attributesOfItem(atPath: s.cwe.path)
        sha.update(Array("\(a[.size] ?? 0) \((a[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0) v2".utf8))
        return sha.finalize().map { String(format: "%02x", $0) }.joined()
    }

    private func build(_ sources: KnowledgeSources, stamp: String, progress: (String) -> Void) throws {
        progress("building the retrieval index at \(path)")
        let pages = try CheckPage.loadAll(from: sources.pages)
        let cwes = try CWECatalog.load(sources.cwe)
        try db.transaction {
            try db.execute("""
                DROP TABLE IF EXISTS passages; DROP TABLE IF EXISTS checks; DROP TABLE IF EXISTS cwe; DROP TABLE IF EXISTS meta;
                CREATE VIRTUAL TABLE passages USING fts5(doc_id UNINDEXED, kind UNINDEXED, source UNINDEXED, title, body, tokenize = 'porter unicode61');
                CREATE TABLE checks (id TEXT PRIMARY KEY, title TEXT, source TEXT, category TEXT, rule_id TEXT, cwe TEXT, related TEXT, path TEXT, page TEXT);
                CREATE TABLE cwe (id TEXT PRIMARY KEY, name TEXT, description TEXT, extended TEXT, consequences TEXT, mitigations TEXT);
                CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);
                """)
            let encoder = JSONEncoder()
            try db.executeMany("INSERT INTO checks VALUES (?,?,?,?,?,?,?,?,?)", try pages.map { p in
                [.text(p.id), .text(p.title), .text(p.source), .text(p.category), p.ruleID.map { .text($0) } ?? .null, p.cwe.map { .text($0) } ?? .null,
                 .text(p.related.joined(separator: ",")), .text(p.path), .text(String(decoding: try encoder.encode(p), as: UTF8.self))]
            })
            try db.executeMany("INSERT INTO passages (doc_id, kind, source, title, body) VALUES (?,?,?,?,?)", pages.map { p in
                [.text(p.id), .text("check"), .text("rag-index/" + p.path), .text(p.title),
                 .text([p.id, p.what, p.why, p.howToFix, p.category, p.cwe ?? ""].joined(separator: "\n\n"))]
            })
            try db.executeMany("INSERT INTO cwe VALUES (?,?,?,?,?,?)", cwes.map { c in
                [.text(c.id), .text(c.name), .text(c.description), .text(c.extendedDescription), .text(c.consequences.joined(separator: "\n")),
                 .text(c.mitigations.joined(separator: "\n"))]
            })
            try db.executeMany("INSERT INTO passages (doc_id, kind, source, title, body) VALUES (?,?,?,?,?)", cwes.map { c in
                [.text(c.id), .text("cwe"), .text("MITRE CWE 4.14, \(c.id)"), .text(c.name),
                 .text([c.id, c.description, c.extendedDescription, c.consequences.joined(separator: "\n"), c.mitigations.joined(separator: "\n")].joined(separator: "\n\n"))]
            })
            try db.query("INSERT INTO meta VALUES ('sources', ?), ('built_at', ?)", [.text(stamp), .text(ISO8601DateFormatter().string(from: Date()))])
        }
        progress("indexed \(pages.count) check pages and \(cwes.count) CWE entries")
    }

    /// Counts of what the index holds.
    public func counts() throws -> (pages: Int, cwes: Int) {
        lock.lock()
        defer { lock.unlock() }
        return (Int(try db.query("SELECT count(*) FROM checks").first?.first?.int ?? 0), Int(try db.query("SELECT count(*) FROM cwe").first?.first?.int ?? 0))
    }

    /// The check's page, if the index has one.
    public func page(_ check: String) throws -> CheckPage? {
        lock.lock()
        defer { lock.unlock() }
        guard let json = try db.query("SELECT page FROM checks WHERE id = ?", [.text(check)]).first?.first?.text else { return nil }
        return try JSONDecoder().decode(CheckPage.self, from: Data(json.utf8))
    }

    public func ontology(_ check: String) throws -> OntologyEntry? {
        try page(check).map { OntologyEntry(check: $0.id, title: $0.title, source: $0.source, category: $0.category, cwe: $0.cwe, related: $0.related) }
    }

    public func cwe(_ id: String) throws -> CWEEntry? {
        lock.lock()
        defer { lock.unlock() }
        guard let r = try db.query("SELECT id, name, description, extended, consequences, mitigations FROM cwe WHERE id = ?", [.text(id)]).first else { return nil }
        return CWEEntry(id: r[0].text ?? id, name: r[1].text ?? "", description: r[2].text ?? "", extendedDescription: r[3].text ?? "",
                        consequences: (r[4].text ?? "").split(separator: "\n").map(String.init), mitigations: (r[5].text ?? "").split(separator: "\n").map(String.init))
    }

    /// BM25 search over pages and CWE entries.
    public func search(_ query: String, limit: Int, kind: String? = nil) throws -> [Passage] {
        let terms = Self.terms(query)
        guard !terms.isEmpty else { return [] }
        let match = terms.map { "\"\($0)\"" }.joined(separator: " OR ")
        lock.lock()
        defer { lock.unlock() }
        let rows = try db.query("""
            SELECT doc_id, kind, source, title, body, bm25(passages, 4.0, 1.0) AS score FROM passages
            WHERE passages MATCH ? AND (? IS NULL OR kind = ?) ORDER BY score LIMIT ?
            """, [.text(match), kind.map { .text($0) } ?? .null, kind.map { .text($0) } ?? .null, .int(Int64(limit))])
        return rows.map { r in
            Passage(source: r[2].text ?? "", title: r[3].text ?? "", text: r[4].text ?? "", score: -(r[5].double ?? 0), id: r[0].text, kind: r[1].text)
        }
    }

    /// Passages for a finding: its own page first, then its CWE, then BM25 neighbours of the
    /// finding's text, pages of related checks breaking ties.
    public func retrieve(check: String, message: String, limit: Int = 5) throws -> [Passage] {
        var out: [Passage] = []
        let own = try page(check)
        if let p = own {
            out.append(Passage(source: "rag-index/" + p.path, title: p.title, text: [p.what, p.why, p.howToFix].joined(separator: "\n\n"), score: 1e9,
                               id: p.id, kind: "check"))
            if let id = p.cwe, let c = try cwe(id) {
                out.append(Passage(source: "MITRE CWE 4.14, \(c.id)", title: c.name, text: c.description + (c.extendedDescription.isEmpty ? "" : "\n\n" + c.extendedDescription),
                                   score: 1e9, id: c.id, kind: "cwe"))
            }
        }
        let related = Set(own?.related ?? [])
        let neighbours = try search(check.replacingOccurrences(of: ".", with: " ") + " " + message, limit: limit * 2)
            .filter { n in !out.contains { $0.id == n.id } }
            .sorted { (related.contains($0.id ?? "") ? 1 : 0, $0.score) > (related.contains($1.id ?? "") ? 1 : 0, $1.score) }
        out += neighbours.prefix(max(0, limit - out.count))
        return Array(out.prefix(limit))
    }

    /// PassageRetriever: BM25 over everything, for the confidence gate's retrieve action.
    public func passages(for query: String, limit: Int) async throws -> [Passage] {
        try search(query, limit: limit)
    }

    /// Words FTS5 can match: letters, digits and underscores, at least two characters.
    static func terms(_ s: String) -> [String] {
        var seen = Set<String>()
        return s.lowercased().split { !$0.isLetter && !$0.isNumber && $0 != "_" }.map(String.init)
            .filter { $0.count > 1 && seen.insert($0).inserted }
            .prefix(32).map { $0 }
    }
}
