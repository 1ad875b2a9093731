import Checks
import Foundation
import Testing

@Suite("The user's .credo.exs and .sobelow-conf")
struct ToolConfigTests {
    static let configs = Fixtures.root.appendingPathComponent("configs")

    @Test("the nearest .credo.exs is found from the file upwards and honoured: a disabled check, parameters, a priority, excluded files")
    func credoConfig() async throws {
        let file = Self.configs.appendingPathComponent("credo_project/lib/sample.ex").path
        let options = CheckOptions.forFile(file, strict: true)
        #expect(options.credoPath == "lib/sample.ex" && options.credoConfig?.contains("max_length: 60") == true)
        let code = try String(contentsOfFile: file, encoding: .utf8)
        let checked = try await Fixtures.pool.checked(code, only: [.credo], options: options)
        let byCheck = Dictionary(grouping: checked.findings, by: \.check)
        #expect(byCheck["Credo.Check.Design.TagTODO"] == nil, "disabled in .credo.exs")
        #expect(byCheck["Credo.Check.Readability.MaxLineLength"]?.first?.message == "Line is too long (max is 60, was 69).")
        #expect(byCheck["Credo.Check.Refactor.Nesting"]?.first?.message == "Function body is nested too deep (max depth is 1, was 2).")
        #expect(checked.notes == ["line 15 of .credo.exs: `String.length(\"ab\")` is code, not data, and was skipped (the file is read, never run)"])
        // Without the configuration, Credo's defaults: the TODO is reported and nesting 2 is allowed.
        let plain = try await Fixtures.pool.findings(in: code, only: [.credo], options: CheckOptions(strict: true))
        #expect(plain.map(\.check) == ["Credo.Check.Design.TagTODO"])
    }

    @Test("files .credo.exs excludes, or does not include, get no Credo findings, and a note says why")
    func credoFiles() async throws {
        for (path, rel) in [("credo_project/lib/generated/skipped.ex", "lib/generated/skipped.ex"), ("credo_project/scripts/outside.ex", "scripts/outside.ex")] {
            let file = Self.configs.appendingPathComponent(path).path
            let checked = try await Fixtures.pool.checked(try String(contentsOfFile: file, encoding: .utf8), only: nil,
                                                          options: CheckOptions.forFile(file, strict: true))
            #expect(checked.findings.allSatisfy { $0.source != .credo }, "\(path)")
            #expect(checked.notes.contains { $0.hasPrefix("\(rel) is outside the files .credo.exs includes") }, "\(checked.notes)")
        }
    }

    @Test("a .credo.exs that does not parse, or is not a config, falls back to Credo's defaults with a note; nothing in it runs")
    func unreadableCredoConfig() async throws {
        let code = "defmodule A do\n  @moduledoc false\n  # TODO: x\nend\n"
        let marker = FileManager.default.temporaryDirectory.appendingPathComponent("ec-credo-ran-\(UUID().uuidString)")
        for (config, note) in [("%{configs: [", ".credo.exs does not parse"), ("File.write!(\"\(marker.path)\", \"ran\")", ".credo.exs has no configs list")] {
            let checked = try await Fixtures.pool.checked(code, only: [.credo], options: CheckOptions(strict: true, credoConfig: config, credoPath: "lib/a.ex"))
            #expect(checked.findings.map(\.check) == ["Credo.Check.Design.TagTODO"])
            #expect(checked.notes.contains { $0.hasPrefix(note) }, "\(checked.notes)")
        }
        #expect(!FileManager.default.fileExists(atPath: marker.path), "the configuration was evaluated")
    }

    @Test(".sobelow-conf: ignored types, and with skip on, @sobelow_skip silences its function only, as Sobelow 0.13 with --skip")
    func sobelowConfig() async throws {
        let file = Self.configs.appendingPathComponent("sobelow_project/lib/atoms.ex").path
        let code = try String(contentsOfFile: file, encoding: .utf8)
        let configured = try await Fixtures.pool.findings(in: code, only: [.sobelow], options: CheckOptions.forFile(file, strict: true))
        #expect(configured.map { "\($0.check)@\($0.line)" } == ["DOS.StringToAtom@10"])
        let plain = try await Fixtures.pool.findings(in: code, only: [.sobelow], options: CheckOptions(strict: true))
        #expect(plain.map { "\($0.check)@\($0.line)" } == ["DOS.StringToAtom@6", "DOS.StringToAtom@10", "DOS.ListToAtom@14"])
    }

    @Test("the recorded Sobelow run with --skip on the skip snippet is reproduced")
    func recordedSkip() async throws {
        let key = "snippets/b11_sobelow_skip.ex"
        let code = try String(contentsOf: Fixtures.root.appendingPathComponent(key), encoding: .utf8)
        let recorded = (Fixtures.findings[key] as! [String: Any])["sobelow_with_--skip"] as! [String: Any]
        let low = ((recorded["findings"] as! [String: Any])["low_confidence"] as! [[String: Any]]).map { $0["line"] as! Int }
        let ours = try await Fixtures.pool.findings(in: code, only: [.sobelow], options: CheckOptions(strict: true, sobelowSkip: true))
        #expect(ours.map(\.line) == low)
        #expect(try await Fixtures.pool.findings(in: code, only: [.sobelow], options: CheckOptions(strict: true)).count == 2, "without --skip both")
    }
}

@Suite("Sobelow's configuration findings on a small Phoenix project on disk")
struct SobelowProjectTests {
    static let project = ToolConfigTests.configs.appendingPathComponent("phoenix_project")

    @Test("router, endpoint and config files: CSRF, CSP, action reuse, websocket origin, HTTPS and HSTS, with Sobelow's ids, confidence and CWEs",
          arguments: [
              ("lib/router.ex", ["Config.CSRF@4 high SBLW005 CWE-352", "Config.CSP@7 high SBLW003 CWE-693", "Config.CSRFRoute@16 high SBLW004 CWE-352"]),
              ("lib/endpoint.ex", ["Config.CSWH@3 high SBLW006 CWE-1385"]),
              ("config/prod.exs", ["Config.HTTPS@0 high SBLW009 CWE-319"]),
              ("config/dev.exs", ["Config.HSTS@0 medium SBLW008 CWE-319"]),
              ("lib/safe_router.ex", []),
          ])
    func configFindings(_ file: String, _ expected: [String]) async throws {
        let path = Self.project.appendingPathComponent(file).path
        let code = try String(contentsOfFile: path, encoding: .utf8)
        let found = try await Fixtures.pool.findings(in: code, only: [.sobelow], options: CheckOptions.forFile(path, strict: true))
        #expect(found.map { "\($0.check)@\($0.line) \($0.confidence ?? "") \($0.ruleID ?? "") \($0.cwe ?? "")" } == expected)
    }

    static let contentTypeController = "defmodule AppWeb.FileController do\n  use AppWeb, :controller\n\n  def show(conn, %{\"type\" => type}) do\n    conn\n    |> put_resp_content_type(type)\n    |> send_resp(200, \"ok\")\n  end\n\n  def page(conn, _), do: put_resp_content_type(conn, \"text/html\")\nend\n"
    static let noHeaders = "defmodule AppWeb.Router do\n  use AppWeb, :router\n\n  pipeline :browser do\n    plug :accepts, [\"html\"]\n  end\nend\n"

    @Test("a content type that is not a literal is XSS.ContentType, high in a controller")
    func contentType() async throws {
        let found = try await Fixtures.pool.findings(in: Self.contentTypeController, only: [.sobelow], options: CheckOptions(strict: true))
        #expect(found.map { "\($0.check)@\($0.line) \($0.confidence ?? "")" } == ["XSS.ContentType@6 high"])
    }

    @Test("an HTML pipeline without put_secure_browser_headers is Config.Headers; an API pipeline is not")
    func headers() async throws {
        let found = try await Fixtures.pool.findings(in: Self.noHeaders, only: [.sobelow], options: CheckOptions(strict: true))
        #expect(found.map { "\($0.check)@\($0.line)" } == ["Config.Headers@4"])
        let api = Self.noHeaders.replacingOccurrences(of: "[\"html\"]", with: "[\"json\"]")
        #expect(try await Fixtures.pool.findings(in: api, only: [.sobelow], options: CheckOptions(strict: true)).isEmpty)
    }
}
