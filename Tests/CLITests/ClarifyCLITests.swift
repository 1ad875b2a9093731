import Foundation
import Testing

/// Clarification as a user meets it: `clarify`, `generate --clarify`/`--answer`, and the server.
@Suite("clarify from the CLI", .serialized)
struct ClarifyCLITests {
    static let ambiguous = "Write a function that reads a number from a string safely."

    @Test("clarify --json gives the verdict, both entropies, clusters and ranked questions")
    func clarifyJSON() throws {
        let r = try CLI.run(["clarify", Self.ambiguous, "--samples", "3", "--json", "--no-model-questions"])
        #expect(r.status == 0, "\(r.stderr)")
        let a = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
        #expect(a["verdict"] as? String == "ask")
        #expect(a["ambiguity"] as? String == "error_handling")
        #expect(a["entropy"] is Double && a["likelihoodEntropy"] is Double)
        #expect((a["samples"] as? [Any])?.count == 3)
        let q = try #require((a["questions"] as? [[String: Any]])?.first)
        #expect((q["text"] as? String)?.hasSuffix("?") == true)
        #expect(((q["options"] as? [Any])?.count ?? 0) >= 2)
        let text = try CLI.run(["clarify", Self.ambiguous, "--samples", "2", "--no-model-questions"])
        #expect(text.stdout.contains("verdict: ask") && text.stdout.contains("questions, best first"))
    }

    @Test("generate --clarify without a terminal prints the question and exits 4; --answer continues to code")
    func generateClarify() throws {
        let asked = try CLI.run(["generate", Self.ambiguous, "--clarify", "--max-tokens", "32", "--candidates", "2", "--max-attempts", "1"])
        #expect(asked.status == 4, "\(asked.stderr)")
        #expect(asked.stdout.contains("?\n  1) "))
        let answered = try CLI.run(["generate", Self.ambiguous, "--answer", "1", "--max-tokens", "48", "--candidates", "2", "--max-attempts", "1", "--json", "--no-gate"])
        #expect([0, 3].contains(answered.status), "\(answered.stderr)")
        let result = try JSONSerialization.jsonObject(with: Data(answered.stdout.utf8)) as! [String: Any]
        #expect((result["code"] as? String)?.hasPrefix("defmodule") == true)
    }

    @Test("the server asks, keeps the question pending, and generates from the answer once")
    func serverFlow() throws {
        let client = try StdioClient()
        var notes: [[String: Any]] = []
        try client.send(["jsonrpc": "2.0", "id": 1, "method": "clarify", "params": ["task": Self.ambiguous, "samples": 2]])
        let a = try client.response(id: 1, notifications: &notes)["result"] as! [String: Any]
        let id = try #require(a["id"] as? String)
        #expect((a["question"] as? [String: Any])?["type"] as? String == "error_handling")
        try client.send(["jsonrpc": "2.0", "id": 2, "method": "answerClarification", "params": ["id": id, "answer": "1", "candidates": 2, "maxAttempts": 1, "maxTokens": 32]])
        let r = try client.response(id: 2, notifications: &notes)["result"] as! [String: Any]
        #expect((r["code"] as? String)?.hasPrefix("defmodule") == true || r["status"] as? String == "abstained")
        try client.send(["jsonrpc": "2.0", "id": 3, "method": "answerClarification", "params": ["id": id, "answer": "1"]])
        let again = try client.response(id: 3, notifications: &notes)
        #expect(((again["error"] as? [String: Any])?["message"] as? String)?.contains("no pending clarification") == true)
        try client.send(["jsonrpc": "2.0", "id": 4, "method": "clarify", "params": [:]])
        #expect(((try client.response(id: 4, notifications: &notes))["error"] as? [String: Any])?["code"] as? Int == -32602)
        try client.send(["jsonrpc": "2.0", "id": 5, "method": "shutdown"])
        _ = try client.response(id: 5, notifications: &notes)
        try client.send(["jsonrpc": "2.0", "method": "exit"])
        #expect(try client.finish() == 0)
    }
}

/// Confidence repair settings as a user gives them.
@Suite("repair settings from the CLI", .serialized)
struct RepairCLITests {
    @Test("LLM_* environment variables turn shadow repair on; flags override them; bad values are clear errors")
    func environment() throws {
        let args = ["generate", "Write a function that reverses a list.", "--candidates", "1", "--max-attempts", "1", "--max-tokens", "32", "--json", "--no-gate"]
        let repairs = { (out: String) -> Int in
            let r = try! JSONSerialization.jsonObject(with: Data(out.utf8)) as! [String: Any]
            return ((r["attempts"] as! [[String: Any]]).first!["candidates"] as! [[String: Any]]).reduce(0) { $0 + ($1["repairs"] as! Int) }
        }
        // A redraw that lands on the same token is not a repair, so one sampled path may spend
        // less than the budget; over a few seeds, threshold 1 spends all of it and never more.
        var spent: [Int] = []
        for seed in 1...3 {
            let on = try CLI.run(args + ["--seed", "\(seed)"], environment: ["LLM_REPAIR_MODE": "shadow", "LLM_PER_TOKEN_REPAIR_THRESHOLD": "1", "LLM_MAX_LIVE_REPAIRS": "2"])
            #expect([0, 3].contains(on.status), "\(on.stderr)")
            spent.append(repairs(on.stdout))
            if spent.last == 2 { break }
        }
        #expect(spent.max() == 2 && spent.allSatisfy { $0 <= 2 }, "repairs per seed: \(spent)")
        let off = try CLI.run(args + ["--repair-mode", "off"], environment: ["LLM_REPAIR_MODE": "shadow"])
        #expect(repairs(off.stdout) == 0, "the flag wins over the environment")
        let bad = try CLI.run(args, environment: ["LLM_REPAIR_MODE": "sometimes"])
        #expect(bad.status != 0 && bad.stderr.contains("repair mode 'sometimes' is not off, shadow or server"))
    }
}

/// `generate --clarify` on a real terminal (a pseudo-terminal through util-linux's `script`).
@Suite("clarify on a terminal", .serialized)
struct ClarifyTerminalTests {
    @Test("the question and numbered options are shown; the typed number picks the answer and generation goes on")
    func interactive() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/script") else {
            print("skipped: /usr/bin/script is not installed, so there is no pseudo-terminal to test with")
            return
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/script")
        let command = "'\(CLI.binary)' generate 'Write a function that reads a number from a string safely.' --clarify --candidates 1 --max-attempts 1 --max-tokens 16 --no-gate --log-level off"
        p.arguments = ["-qec", command, "/dev/null"]
        var env = ProcessInfo.processInfo.environment
        env["ELIXIR_CODER_HOME"] = CLI.sharedHome.path
        p.environment = env
        let input = Pipe(), output = Pipe()
        p.standardInput = input
        p.standardOutput = output
        p.standardError = output
        try p.run()
        input.fileHandleForWriting.write(Data("2\n".utf8))
        let data = output.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        try? input.fileHandleForWriting.close()
        let text = String(decoding: data, as: UTF8.self).replacingOccurrences(of: "\r", with: "")
        #expect(text.contains("do with invalid input?"))
        #expect(text.contains("  2) raise an exception (ArgumentError or its own), a bang! function"))
        #expect(text.contains("clarify: answered: raise an exception (ArgumentError or its own), a bang! function."))
        #expect(text.contains("defmodule"))
    }
}
