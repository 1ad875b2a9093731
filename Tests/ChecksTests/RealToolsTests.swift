import Checks
import Foundation
import Testing

/// The Mix projects of `Fixtures/elixir-tools/mix_projects`: their `deps/credo` and `deps/sobelow` are
/// stand-ins that replay output recorded from Credo 1.7.19 and Sobelow 0.13.0 (the real tools cannot
/// be installed here), run by the real `mix` in a tool server, as a project's own tools would be.
enum MixProjects {
    static let source = Fixtures.root.appendingPathComponent("mix_projects")

    /// A fresh copy of one project (mix writes `_build/` into it).
    static func copy(_ name: String) throws -> URL {
        let dest = FileManager.default.temporaryDirectory.appendingPathComponent("ec-mix-\(name)-\(UUID().uuidString)")
        try FileManager.default.copyItem(at: source.appendingPathComponent(name), to: dest)
        return dest
    }

    static func file(_ project: URL, _ path: String) throws -> CheckedFile {
        let url = project.appendingPathComponent(path)
        return CheckedFile(path: url.path, text: try String(contentsOf: url, encoding: .utf8))
    }
}

@Suite("The real Credo and Sobelow, when the file's Mix project has them", .serialized)
struct RealToolsTests {
    @Test("the project is found from the file upwards, ELIXIR_CODER_MIX_PROJECT overrides it, and its deps/ say which tools it has")
    func detection() throws {
        let replay = try MixProjects.copy("replay"), broken = try MixProjects.copy("broken")
        defer { [replay, broken].forEach { try? FileManager.default.removeItem(at: $0) } }
        let deep = replay.appendingPathComponent("sobelow_root/b10_controller_xss/lib/b10_controller_xss.ex").path
        let found = try #require(MixProject.locate(for: deep, environment: [:]))
        #expect(found.root.path == replay.standardizedFileURL.path && found.tools == [.credo, .sobelow])
        let overridden = try #require(MixProject.locate(for: deep, environment: [MixProject.overrideVariable: broken.path]))
        #expect(overridden.root.path == broken.standardizedFileURL.path && overridden.tools == [.credo])
        // A project whose deps/ holds neither tool is still found (for the note); no mix.exs anywhere above: none.
        let plain = Fixtures.root.appendingPathComponent("configs/credo_project/lib/sample.ex").path
        #expect(MixProject.locate(for: plain, environment: [:])?.tools == [])
        let loose = FileManager.default.temporaryDirectory.appendingPathComponent("ec-loose-\(UUID().uuidString).ex").path
        #expect(MixProject.locate(for: loose, environment: [:]) == nil)
    }

    @Test("the real tools' recorded JSON becomes the findings in place of the built-in rules': ids, lines, columns, priorities, confidence, CWE; one warm server for a batch and the next run")
    func replayedTools() async throws {
        let project = try MixProjects.copy("replay")
        defer { try? FileManager.default.removeItem(at: project) }
        let tools = RealTools()
        let checks = ProjectChecks(pool: Fixtures.pool, tools: tools, environment: [:])
        let files = [try MixProjects.file(project, "snippets/c02_io_inspect.ex"),
                     try MixProjects.file(project, "sobelow_root/b10_controller_xss/lib/b10_controller_xss.ex")]
        let results = try await checks.check(files, only: [.credo, .sobelow], options: { _ in CheckOptions(strict: true) })
        let credo = results[0].findings
        #expect(credo.map { "\($0.check)@\($0.line):\($0.column ?? 0) p\($0.priority ?? 0) \($0.priorityName ?? "")" } == [
            "Credo.Check.Warning.IoInspect@7:8 p12 high", "Credo.Check.Warning.IoInspect@12:5 p12 high",
        ])
        #expect(credo.allSatisfy { !$0.builtin && $0.category == "warning" && $0.message == "There should be no calls to `IO.inspect/1`." })
        #expect(results[0].notes.isEmpty, "\(results[0].notes)")
        let sobelow = results[1].findings.filter { $0.source == .sobelow }
        #expect(sobelow.map { "\($0.check)@\($0.line) \($0.ruleID ?? "-") \($0.confidence ?? "-") \($0.cwe ?? "-")" } == [
            "XSS.SendResp@7 SBLW031 high CWE-79", "Traversal.SendDownload@11 SBLW020 high CWE-22",
            "Traversal.SendFile@15 SBLW021 high CWE-22", "XSS.HTML@19 SBLW029 high CWE-79",
        ])
        #expect(sobelow.allSatisfy { !$0.builtin }, "the built-in Sobelow findings were replaced")
        #expect(sobelow.first?.message == "XSS in `send_resp`" && sobelow.first?.snippet == "name")
        // The recorded Credo output names only c02: the controller gets no Credo findings, not c02's.
        #expect(results[1].findings.allSatisfy { $0.source != .credo })
        // Warm: the next file goes to the same server.
        _ = try await checks.check(files[0], only: [.credo], options: CheckOptions(strict: true))
        #expect(await tools.serverStarts == 1)
    }

    @Test("a tool that exits non-zero with garbage, or takes too long, leaves the built-in rules' findings and a note that says so; an absent tool or project too")
    func fallbacks() async throws {
        let broken = try MixProjects.copy("broken")
        defer { try? FileManager.default.removeItem(at: broken) }
        let file = try MixProjects.file(broken, "lib/sample.ex")
        let checked = try await ProjectChecks(pool: Fixtures.pool, environment: [:]).check(file, only: nil, options: CheckOptions(strict: true))
        #expect(checked.findings.contains { $0.check == "Credo.Check.Warning.IoInspect" && $0.builtin && $0.line == 5 })
        let failure = try #require(checked.failures.first)
        #expect(failure.hasPrefix("mix credo failed in \(broken.standardizedFileURL.path)"), "\(failure)")
        #expect(failure.contains("exited with status 1 and printed no JSON: ** (UndefinedFunctionError)"), "\(failure)")
        #expect(checked.notes.contains("\(broken.standardizedFileURL.path) has no deps/sobelow: the built-in Sobelow rules stand in"), "\(checked.notes)")
        // The server cannot even boot in time: a timeout, and the built-in findings still.
        let slow = try await ProjectChecks(pool: Fixtures.pool, tools: RealTools(timeout: 0.2), environment: [:]).check(file, only: [.credo], options: CheckOptions(strict: true))
        #expect(slow.findings.contains { $0.check == "Credo.Check.Warning.IoInspect" && $0.builtin })
        #expect(slow.failures.first?.contains("took longer than 0.2 s") == true, "\(slow.failures)")
        let loose = CheckedFile(path: FileManager.default.temporaryDirectory.appendingPathComponent("ec-loose.ex").path, text: file.text)
        let alone = try await ProjectChecks(pool: Fixtures.pool, environment: [:]).check(loose, only: nil, options: CheckOptions(strict: true))
        #expect(alone.notes == ["no Mix project above this file: the built-in Credo and Sobelow rules stand in"])
        #expect(alone.findings.contains { $0.check == "Credo.Check.Warning.IoInspect" && $0.builtin })
    }
}
