import Foundation

/// Credo's `--format json` output, read into findings.
public enum CredoReport {
    struct Issue: Decodable {
        let category: String
        let check: String
        let column: Int?
        let line_no: Int
        let message: String
        let priority: Int
        let trigger: String?
        let filename: String?
    }

    struct File: Decodable { let issues: [Issue] }

    public static func parse(_ data: Data) throws -> [Finding] {
        try parseByFile(data).map(\.finding)
    }

    /// The findings with the file each is in, as Credo names it (relative to where it ran).
    public static func parseByFile(_ data: Data) throws -> [(file: String?, finding: Finding)] {
        do {
            return try JSONDecoder().decode(File.self, from: data).issues.map {
                ($0.filename, Finding(source: .credo, check: $0.check, category: $0.category, priority: $0.priority, line: $0.line_no,
                                      column: $0.column, message: $0.message, snippet: $0.trigger, builtin: false))
            }
        } catch {
            throw CheckerError(.badResponse, "not Credo JSON output: \(error)")
        }
    }
}

/// Sobelow's `--format json` output, read into findings (Sobelow reports no column).
public enum SobelowReport {
    struct Item: Decodable {
        let type: String
        let line: Int
        let variable: String?
        let file: String?
    }

    struct Findings: Decodable {
        let high_confidence: [Item]
        let medium_confidence: [Item]
        let low_confidence: [Item]
    }

    struct File: Decodable { let findings: Findings }

    /// Rule ids and CWEs by finding type, from Sobelow's catalogue.
    static let rules: [String: (String, String)] = [
        "CI.OS": ("SBLW001", "CWE-78"), "CI.System": ("SBLW002", "CWE-78"), "Config.CSP": ("SBLW003", "CWE-693"),
        "Config.CSRFRoute": ("SBLW004", "CWE-352"), "Config.CSRF": ("SBLW005", "CWE-352"), "Config.CSWH": ("SBLW006", "CWE-1385"),
        "Config.Headers": ("SBLW007", "CWE-693"), "Config.HSTS": ("SBLW008", "CWE-319"), "Config.HTTPS": ("SBLW009", "CWE-319"),
        "Config.Secrets": ("SBLW010", "CWE-798"), "DOS.BinToAtom": ("SBLW011", "CWE-400"), "DOS.ListToAtom": ("SBLW012", "CWE-400"),
        "DOS.StringToAtom": ("SBLW013", "CWE-400"), "Misc.BinToTerm": ("SBLW014", "CWE-502"), "RCE.CodeModule": ("SBLW015", "CWE-94"),
        "RCE.EEx": ("SBLW016", "CWE-94"), "SQL.Query": ("SBLW017", "CWE-89"), "SQL.Stream": ("SBLW018", "CWE-89"),
        "Traversal.FileModule": ("SBLW019", "CWE-22"), "Traversal.SendDownload": ("SBLW020", "CWE-22"), "Traversal.SendFile": ("SBLW021", "CWE-22"),
        "XSS.ContentType": ("SBLW028", "CWE-79"), "XSS.HTML": ("SBLW029", "CWE-79"), "XSS.Raw": ("SBLW030", "CWE-79"), "XSS.SendResp": ("SBLW031", "CWE-79"),
        "Vuln.Coherence": ("SBLW022", "CWE-1395"), "Vuln.CookieRCE": ("SBLW023", "CWE-1395"), "Vuln.Ecto": ("SBLW024", "CWE-1395"),
        "Vuln.HeaderInject": ("SBLW025", "CWE-1395"), "Vuln.PlugNull": ("SBLW026", "CWE-1395"), "Vuln.Redirect": ("SBLW027", "CWE-1395"),
    ]

    public static func parse(_ data: Data) throws -> [Finding] {
        try parseByFile(data).map(\.finding)
    }

    /// The findings with the file each is in, as Sobelow names it (its root joined, the leading `/` dropped).
    public static func parseByFile(_ data: Data) throws -> [(file: String?, finding: Finding)] {
        let file: File
        do { file = try JSONDecoder().decode(File.self, from: data) } catch {
            throw CheckerError(.badResponse, "not Sobelow JSON output: \(error)")
        }
        func map(_ items: [Item], _ confidence: String) -> [(file: String?, finding: Finding)] {
            items.map { item in
                let parts = item.type.split(separator: ":", maxSplits: 1)
                let type = String(parts[0])
                let message = parts.count > 1 ? parts[1].trimmingCharacters(in: .whitespaces) : item.type
                return (item.file, Finding(source: .sobelow, check: type, ruleID: rules[type]?.0, category: "security", confidence: confidence,
                                           line: item.line, message: message, snippet: item.variable, cwe: rules[type]?.1, builtin: false))
            }
        }
        return (map(file.findings.high_confidence, "high") + map(file.findings.medium_confidence, "medium") + map(file.findings.low_confidence, "low"))
            .sorted { ($0.finding.line, $0.finding.check) < ($1.finding.line, $1.finding.check) }
    }
}
