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
    }

    struct File: Decodable { let issues: [Issue] }

    public static func parse(_ data: Data) throws -> [Finding] {
        do {
            return try JSONDecoder().decode(File.self, from: data).issues.map {
                Finding(source: .credo, check: $0.check, category: $0.category, priority: $0.priority, line: $0.line_no,
                        column: $0.column, message: $0.message, snippet: $0.trigger, builtin: false)
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
    ]

    public static func parse(_ data: Data) throws -> [Finding] {
        let file: File
        do { file = try JSONDecoder().decode(File.self, from: data) } catch {
            throw CheckerError(.badResponse, "not Sobelow JSON output: \(error)")
        }
        func map(_ items: [Item], _ confidence: String) -> [Finding] {
            items.map { item in
                let parts = item.type.split(separator: ":", maxSplits: 1)
                let type = String(parts[0])
                let message = parts.count > 1 ? parts[1].trimmingCharacters(in: .whitespaces) : item.type
                return Finding(source: .sobelow, check: type, ruleID: rules[type]?.0, category: "security", confidence: confidence,
                               line: item.line, message: message, snippet: item.variable, cwe: rules[type]?.1, builtin: false)
            }
        }
        return (map(file.findings.high_confidence, "high") + map(file.findings.medium_confidence, "medium") + map(file.findings.low_confidence, "low"))
            .sorted { ($0.line, $0.check) < ($1.line, $1.check) }
    }
}

/// Runs the real Credo and Sobelow from a Mix project that has them as dependencies.
public struct MixToolChecker: Checker {
    public let project: URL

    /// From `ELIXIR_CODER_MIX_PROJECT`, when it names a project with credo and sobelow in its deps.
    public init?(environment: [String: String] = ProcessInfo.processInfo.environment) {
        guard let p = environment["ELIXIR_CODER_MIX_PROJECT"], !p.isEmpty else { return nil }
        project = URL(fileURLWithPath: p)
    }

    public func findings(in code: String) async throws -> [Finding] {
        let fm = FileManager.default
        let scratch = fm.temporaryDirectory.appendingPathComponent("elixir-coder-tools-\(UUID().uuidString)")
        let lib = scratch.appendingPathComponent("lib")
        try fm.createDirectory(at: lib, withIntermediateDirectories: true)
        defer { try? fm.removeItem(at: scratch) }
        let file = lib.appendingPathComponent("candidate.ex")
        try code.write(to: file, atomically: true, encoding: .utf8)
        try "defmodule Candidate.MixProject do\n  use Mix.Project\n  def project, do: [app: :candidate, version: \"0.1.0\"]\nend\n"
            .write(to: scratch.appendingPathComponent("mix.exs"), atomically: true, encoding: .utf8)
        let credo = try run(["mix", "credo", "--strict", "--format", "json", file.path])
        let sobelow = try run(["mix", "sobelow", "--format", "json", "--private", "--root", scratch.path])
        return try CredoReport.parse(credo) + SobelowReport.parse(sobelow)
    }

    private func run(_ args: [String]) throws -> Data {
        let data = try runCapturingOutput(args, in: project).output
        // Credo's exit status ORs issue categories; only the JSON matters.
        guard let start = data.firstIndex(of: UInt8(ascii: "{")) else {
            throw CheckerError(.unavailable, "\(args.prefix(2).joined(separator: " ")) printed no JSON in \(project.path)")
        }
        return Data(data[start...])
    }
}
