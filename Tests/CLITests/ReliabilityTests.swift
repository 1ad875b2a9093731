import Foundation
import Testing

/// `elixir-coder-bench reliability` against the real binaries: what it prints is what holds.
@Suite("reliability", .serialized)
struct ReliabilityTests {
    @Test("malformed frames, bodies, ids and parameters all get their error; nothing crashes, no frame or file is lost, no escape gets out")
    func battery() throws {
        let r = try CLI.run(["bench", "reliability", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let kinds = try #require(report["kinds"] as? [[String: Any]])
        #expect(Set(kinds.compactMap { $0["name"] as? String }) == ["framing", "json", "ids", "params"])
        for k in kinds {
            #expect((k["tried"] as? Int ?? 0) > 0 && k["tried"] as? Int == k["right"] as? Int, "\(k["name"] ?? ""): \(k["wrong"] ?? "")")
        }
        #expect(report["crashes"] as? Int == 0 && report["framesLost"] as? Int == 0)
        #expect((report["escapesTried"] as? Int ?? 0) >= 8 && report["escapesBlocked"] as? Int == report["escapesTried"] as? Int, "\(report["escapesLeaked"] ?? "")")
        #expect(report["filesTried"] as? Int == 2 && report["filesLost"] as? Int == 0)
    }
}
