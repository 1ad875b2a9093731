import Foundation
import Testing

/// The CLI, `batch` and `serve --stdio` call the same application services.
@Suite("front ends", .serialized)
struct FrontEndTests {
    @Test("generate, batch and serve --stdio give the same answer for the same request and the same configuration")
    func sameAnswer() throws {
        // No examples, so the model's loop answers; sampling comes from the environment only.
        let task = "Write a module `Greeter` with a function `hello(name)` that returns a greeting for the name."
        let env = ["ELIXIR_CODER_TEMPERATURE": "0.6", "ELIXIR_CODER_SEED": "11", "ELIXIR_CODER_MAX_TOKENS": "80", "ELIXIR_CODER_LOG_LEVEL": "off"]

        let generated = try CLI.run(["generate", "--json", "--max-attempts", "1", task], environment: env)
        #expect([0, 3, 4].contains(generated.status), "an answer, problems or an abstention: \(generated.stderr)")
        let viaCLI = try #require(try JSONSerialization.jsonObject(with: Data(generated.stdout.utf8)) as? [String: Any])

        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ec-front-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let input = dir.appendingPathComponent("tasks.jsonl"), output = dir.appendingPathComponent("out.jsonl")
        let line = try JSONSerialization.data(withJSONObject: ["id": "greet", "task": task])
        try line.write(to: input)
        let batch = try CLI.run(["batch", input.path, "-o", output.path, "--jobs", "1", "--max-attempts", "1"], environment: env)
        #expect(batch.status == 0, "\(batch.stderr)")
        let viaBatch = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: output)) as? [String: Any])

        let server = try StdioClient(environment: env)
        try server.send(["jsonrpc": "2.0", "id": 1, "method": "generate", "params": ["task": task, "maxAttempts": 1]])
        var notes: [[String: Any]] = []
        let response = try server.response(id: 1, notifications: &notes)
        let viaServer = try #require(response["result"] as? [String: Any], "\(response)")
        #expect(try server.shutdown(id: 2) == 0)

        let code = try #require(viaCLI["code"] as? String)
        #expect(!code.isEmpty)
        #expect(viaBatch["code"] as? String == code, "batch: \(viaBatch["code"] ?? "")\ngenerate: \(code)")
        #expect(viaServer["code"] as? String == code, "serve: \(viaServer["code"] ?? "")\ngenerate: \(code)")
        #expect(viaBatch["status"] as? String == viaCLI["status"] as? String && viaServer["status"] as? String == viaCLI["status"] as? String)
    }
}
