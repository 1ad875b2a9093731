import Foundation

/// The built-in rules against the real Credo's and Sobelow's recorded findings on fixture snippets:
/// per snippet and tool, which findings match (same check and line), and whether the matched ones
/// agree on Credo's priority band and on the column.
public struct Fidelity: Sendable, Codable {
    /// One snippet and one tool.
    public struct Row: Sendable, Codable {
        public var snippet: String
        public var tool: String
        public var real: Int
        public var ours: Int
        public var matched: Int
        /// Matched findings whose priority band (Credo) agrees, and how many had one to compare.
        public var bandAgreed: Int
        public var bandCompared: Int
        /// Matched findings whose column agrees, among those the tool recorded a column for.
        public var columnAgreed: Int
        public var columnCompared: Int
        /// `check@line` of real findings we miss and of ours the tool does not report.
        public var missed: [String]
        public var extra: [String]
    }

    /// A tool's totals over every snippet.
    public struct Totals: Sendable, Codable {
        public var tool: String
        public var real = 0, ours = 0, matched = 0, bandAgreed = 0, bandCompared = 0, columnAgreed = 0, columnCompared = 0
        public var recall: Double { real == 0 ? 1 : Double(matched) / Double(real) }
        public var precision: Double { ours == 0 ? 1 : Double(matched) / Double(ours) }
        public var bandAgreement: Double { bandCompared == 0 ? 1 : Double(bandAgreed) / Double(bandCompared) }
        public var columnAgreement: Double { columnCompared == 0 ? 1 : Double(columnAgreed) / Double(columnCompared) }
    }

    public var rows: [Row]

    /// Totals per tool (credo, sobelow).
    public var totals: [Totals] {
        ["credo", "sobelow"].map { tool in
            rows.filter { $0.tool == tool }.reduce(into: Totals(tool: tool)) { t, r in
                t.real += r.real
                t.ours += r.ours
                t.matched += r.matched
                t.bandAgreed += r.bandAgreed
                t.bandCompared += r.bandCompared
                t.columnAgreed += r.columnAgreed
                t.columnCompared += r.columnCompared
            }
        }
    }

    /// Runs the built-in rules (strict, as the findings were recorded with `mix credo --strict`) on
    /// every snippet of `fixtures/findings.json` and compares.
    public static func measure(fixtures: URL, pool: CheckerPool) async throws -> Fidelity {
        let data = try Data(contentsOf: fixtures.appendingPathComponent("findings.json"))
        guard let recorded = try JSONSerialization.jsonObject(with: data) as? [String: [String: Any]] else {
            throw CheckerError(.badResponse, "\(fixtures.path)/findings.json is not a map of snippets")
        }
        var rows: [Row] = []
        for key in recorded.keys.sorted() {
            let entry = recorded[key]!
            let code = try String(contentsOf: fixtures.appendingPathComponent(key), encoding: .utf8)
            let options = CheckOptions(kind: key.hasSuffix(".exs") ? .config : .code, strict: true)
            let ours = try await pool.report(.all, code, options: options).findings ?? []
            let realCredo = (entry["credo"] as? [[String: Any]] ?? []).map {
                Recorded(check: $0["check"] as? String ?? "", line: $0["line"] as? Int ?? 0, column: $0["column"] as? Int, priority: $0["priority"] as? Int)
            }
            let realSobelow = (entry["sobelow"] as? [[String: Any]] ?? []).map {
                Recorded(check: $0["module"] as? String ?? "", line: $0["line"] as? Int ?? 0, column: $0["column"] as? Int, priority: nil)
            }
            rows.append(compare(key, "credo", realCredo, ours.filter { $0.source == .credo }))
            // Our own Misc.ModuleBodySideEffect has no Sobelow rule id: it is not Sobelow's to judge.
            rows.append(compare(key, "sobelow", realSobelow, ours.filter { $0.source == .sobelow && $0.ruleID != nil }))
        }
        return Fidelity(rows: rows)
    }

    struct Recorded {
        let check: String
        let line: Int
        let column: Int?
        let priority: Int?
    }

    static func compare(_ snippet: String, _ tool: String, _ real: [Recorded], _ ours: [Finding]) -> Row {
        var unmatched = ours
        var row = Row(snippet: snippet, tool: tool, real: real.count, ours: ours.count, matched: 0, bandAgreed: 0, bandCompared: 0,
                      columnAgreed: 0, columnCompared: 0, missed: [], extra: [])
        for r in real {
            guard let i = unmatched.firstIndex(where: { $0.check == r.check && $0.line == r.line }) else {
                row.missed.append("\(r.check)@\(r.line)")
                continue
            }
            let mine = unmatched.remove(at: i)
            row.matched += 1
            if let p = r.priority {
                row.bandCompared += 1
                if band(p) == mine.priorityName { row.bandAgreed += 1 }
            }
            // A column Credo could not place (nil) is compared too: we must not invent one.
            row.columnCompared += 1
            if r.column == mine.column { row.columnAgreed += 1 }
        }
        row.extra = unmatched.map { "\($0.check)@\($0.line)" }
        return row
    }

    /// Credo's band name for a numeric priority.
    public static func band(_ p: Int) -> String {
        Finding(source: .credo, check: "", priority: p, line: 1, message: "").priorityName ?? ""
    }
}
