import Checks
import Foundation
import Testing

@Suite("Sobelow's findings that need the Phoenix project around the file: templates and vulnerable dependencies")
struct SobelowTemplateAndVulnTests {
    static let phoenix = Fixtures.root.appendingPathComponent("configs/phoenix_templates")

    static func sobelow(_ path: String, text: String? = nil) async throws -> [Finding] {
        let code = try text ?? String(contentsOfFile: path, encoding: .utf8)
        return try await Fixtures.pool.findings(in: code, only: [.sobelow], options: CheckOptions.forFile(path, strict: true))
    }

    @Test("XSS.Raw through a rendered template: an assign from the action's parameters is high, another variable medium, a literal or an unescaped-free assign nothing")
    func templateRaw() async throws {
        let controller = Self.phoenix.appendingPathComponent("lib/demo_web/controllers/page_controller.ex").path
        let found = try await Self.sobelow(controller).filter { $0.check == "XSS.Raw" }
        #expect(found.map { "\($0.snippet ?? "")@\($0.line) \($0.confidence ?? "")" }.sorted() == ["@name@6 high", "@title@6 medium"])
        #expect(found.allSatisfy { $0.ruleID == "SBLW030" && $0.cwe == "CWE-79" && $0.message == "XSS" })
        // The same controller where no templates folder is beside it: nothing to read, nothing reported.
        let elsewhere = FileManager.default.temporaryDirectory.appendingPathComponent("ec-nowhere/controllers/page_controller.ex").path
        #expect(try await Self.sobelow(elsewhere, text: String(contentsOfFile: controller, encoding: .utf8)).allSatisfy { $0.check != "XSS.Raw" })
    }

    @Test("Vuln.*: versions from deps/<pkg>/mix.exs (as Sobelow reads them), else mix.lock, against Sobelow's lists and ranges, on the line that names the package")
    func vulnerableDependencies() async throws {
        let expected = ["Vuln.Coherence@11 SBLW022", "Vuln.CookieRCE@9 SBLW023", "Vuln.Ecto@10 SBLW024", "Vuln.HeaderInject@9 SBLW025",
                        "Vuln.PlugNull@9 SBLW026", "Vuln.Redirect@8 SBLW027"]
        let mix = try await Self.sobelow(Self.phoenix.appendingPathComponent("mix.exs").path).filter { $0.check.hasPrefix("Vuln.") }
        #expect(mix.map { "\($0.check)@\($0.line) \($0.ruleID ?? "")" }.sorted() == expected)
        #expect(mix.allSatisfy { $0.confidence == "high" && $0.cwe == "CWE-1395" })
        #expect(mix.first { $0.check == "Vuln.Coherence" }?.message == "Known Vulnerable Dependency - Coherence v0.5.0 (Permissive parameters and privilege escalation, CVE-2018-20301)")
        let lock = try await Self.sobelow(Self.phoenix.appendingPathComponent("mix.lock").path).filter { $0.check.hasPrefix("Vuln.") }
        #expect(lock.map { "\($0.check)@\($0.line)" }.sorted() == ["Vuln.Coherence@2", "Vuln.CookieRCE@5", "Vuln.Ecto@3", "Vuln.HeaderInject@5", "Vuln.PlugNull@5", "Vuln.Redirect@4"])
        // Patched versions: nothing, except Plug 1.3.4, which only the header-injection range still covers.
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ec-vuln-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let patched = dir.appendingPathComponent("mix.lock")
        try "%{\n  \"phoenix\": {:hex, :phoenix, \"1.7.0\", \"0\", [:mix], [], \"hexpm\", \"0\"},\n  \"plug\": {:hex, :plug, \"1.3.4\", \"0\", [:mix], [], \"hexpm\", \"0\"},\n  \"ecto\": {:hex, :ecto, \"3.10.0\", \"0\", [:mix], [], \"hexpm\", \"0\"},\n}\n"
            .write(to: patched, atomically: true, encoding: .utf8)
        #expect(try await Self.sobelow(patched.path).map { "\($0.check)@\($0.line)" } == ["Vuln.HeaderInject@3"])
    }
}
