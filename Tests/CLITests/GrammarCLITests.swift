import Foundation
import Testing

@Suite("grammar check and generate under the grammar", .serialized)
struct GrammarCLITests {
    @Test("grammar check tells complete, open (with its closing) and rejected texts apart, and exits 1 on a rejected one")
    func check() throws {
        let ok = try CLI.run(["grammar", "check", "--json", "--closing", "x = [1, 2]", "defmodule A do\n  def f(x) do\n    [x"])
        #expect(ok.status == 0, "\(ok.stderr)")
        let lines = ok.stdout.split(separator: "\n").map { try! JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        #expect(lines.count == 2)
        #expect(lines.first?["verdict"] as? String == "complete")
        #expect(lines.last?["verdict"] as? String == "open")
        let closing = try #require(lines.last?["closing"] as? String)
        #expect(closing.contains("]") && closing.components(separatedBy: "end").count - 1 == 2, "closing: \(closing.debugDescription)")

        let bad = try CLI.run(["grammar", "check", "{a: 1}"])
        #expect(bad.status == 1)
        #expect(bad.stdout.hasPrefix("rejected at byte 3"), "\(bad.stdout)")
    }

    @Test("generate samples under the grammar by default: every candidate is a complete program; --no-grammar turns it off")
    func generateDefaultsToTheGrammar() throws {
        let args = ["generate", "Write a function that doubles every number in a list.", "--candidates", "3", "--max-attempts", "1", "--max-tokens", "40", "--json", "--no-gate", "--log-level", "off", "--all-candidates"]
        let r = try CLI.run(args)
        #expect(r.status == 0 || r.status == 3, "\(r.stderr)")
        #expect(r.stderr.contains("grammar elixir:"), "the grammar was not loaded: \(r.stderr)")
        let result = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let attempts = try #require(result["attempts"] as? [[String: Any]])
        let codes = attempts.flatMap { ($0["candidates"] as? [[String: Any]] ?? []).compactMap { $0["code"] as? String } }
        #expect(codes.count == 3)
        // 40 tokens are not enough for most programs: the grammar closes them in time.
        let verdicts = try CLI.run(["grammar", "check", "--json"] + codes)
        for line in verdicts.stdout.split(separator: "\n") {
            let v = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            #expect(v["verdict"] as? String == "complete", "\(v)")
        }

        let off = try CLI.run(args + ["--no-grammar"])
        #expect(off.status == 0 || off.status == 3, "\(off.stderr)")
        #expect(!off.stderr.contains("grammar elixir:"))
    }
}
