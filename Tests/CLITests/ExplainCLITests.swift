import Foundation
import Testing

/// `explain`, `index` and the server's `explain`, as a user runs them.
@Suite("explain from the CLI", .serialized)
struct ExplainCLITests {
    static let bad = "defmodule Shop do\n  @moduledoc \"Shop.\"\n  def sort(param) do\n    IO.inspect(param)\n    String.to_atom(param)\n  end\nend\n"

    @Test("explain FILE prints Markdown per finding; --line and --check narrow it; a missing file is a clear error")
    func explainFile() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("ec-explain-\(UUID().uuidString).ex")
        try Self.bad.write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let all = try CLI.run(["explain", file.path, "--no-model"])
        #expect(all.status == 0, "\(all.stderr)")
        #expect(all.stdout.components(separatedBy: "### How to fix").count == 3, "two findings, two explanations")
        #expect(all.stdout.contains("[CWE-400: Uncontrolled Resource Consumption](https://cwe.mitre.org/data/definitions/400.html)"))
        let one = try CLI.run(["explain", file.path, "--line", "5", "--json"])
        #expect(one.status == 0, "\(one.stderr)")
        let list = try JSONSerialization.jsonObject(with: Data(one.stdout.utf8)) as! [[String: Any]]
        #expect(list.count == 1)
        #expect(list.first?["check"] as? String == "DOS.StringToAtom")
        #expect((list.first?["fix"] as? [String: Any])?["verified"] as? Bool == true)
        #expect(list.first?["modelText"] != nil || list.first?["fallbackReason"] != nil)
        let none = try CLI.run(["explain", file.path, "--check", "Credo.Check.Design.TagTODO", "--no-model"])
        #expect(none.status == 0 && none.stderr.contains("no findings"))
        let missing = try CLI.run(["explain", "/nonexistent/x.ex"])
        #expect(missing.status != 0 && missing.stderr.contains("cannot read /nonexistent/x.ex"))
    }

    @Test("index build reports what it indexed; index search finds by meaning words")
    func index() throws {
        let build = try CLI.run(["index", "build"])
        #expect(build.status == 0, "\(build.stderr)")
        #expect(build.stdout.contains("check pages") && build.stdout.contains("963 CWE entries"))
        let search = try CLI.run(["index", "search", "SQL injection through string interpolation", "--json"])
        let hits = try JSONSerialization.jsonObject(with: Data(search.stdout.utf8)) as! [[String: Any]]
        #expect(hits.contains { ($0["id"] as? String)?.hasPrefix("SQL.") == true })
    }

    @Test("the server explains code, and rejects bad params without stopping")
    func serverExplain() throws {
        let client = try StdioClient()
        var notes: [[String: Any]] = []
        try client.send(["jsonrpc": "2.0", "id": 1, "method": "explain", "params": ["code": Self.bad, "check": "Credo.Check.Warning.IoInspect", "model": false]])
        let r = try client.response(id: 1, notifications: &notes)["result"] as! [[String: Any]]
        #expect(r.count == 1)
        #expect((r.first?["markdown"] as? String)?.contains("### Why it matters") == true)
        try client.send(["jsonrpc": "2.0", "id": 2, "method": "explain", "params": ["line": 3]])
        let bad = try client.response(id: 2, notifications: &notes)
        #expect((bad["error"] as? [String: Any])?["code"] as? Int == -32602)
        try client.send(["jsonrpc": "2.0", "id": 3, "method": "shutdown"])
        _ = try client.response(id: 3, notifications: &notes)
        try client.send(["jsonrpc": "2.0", "method": "exit"])
        #expect(try client.finish() == 0)
    }
}
