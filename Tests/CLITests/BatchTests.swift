import Foundation
import Testing

@Suite("batch", .serialized)
struct BatchTests {
    @Test("a batch run interrupted mid-way resumes, skipping written ids, and ends with every task once, in input order")
    func interruptAndResume() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ec-batch-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let input = dir.appendingPathComponent("tasks.jsonl")
        let output = dir.appendingPathComponent("out.jsonl")
        let ids = ["a", "b", "c", "d", "e"]
        try ids.map { #"{"id": "\#($0)", "task": "Add two numbers, variant \#($0)."}"# }.joined(separator: "\n").write(to: input, atomically: true, encoding: .utf8)
        let args = ["batch", input.path, "-o", output.path, "--jobs", "1", "--candidates", "1", "--max-attempts", "1", "--max-tokens", "12"]

        // First run: stop it once two results are on disk.
        let p = Process()
        p.executableURL = URL(fileURLWithPath: CLI.binary)
        p.arguments = args
        p.standardError = FileHandle.nullDevice
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        let deadline = Date().addingTimeInterval(120)
        func lines() -> [String] {
            ((try? String(contentsOf: output, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
        }
        while lines().count < 2 && Date() < deadline && p.isRunning { usleep(50_000) }
        p.interrupt()
        p.waitUntilExit()
        let partial = lines()
        #expect(partial.count >= 2 && partial.count < 5, "interrupted with \(partial.count) results written")
        // Simulate a write torn by the interruption.
        let h = try FileHandle(forWritingTo: output)
        try h.seekToEnd()
        try h.write(contentsOf: Data(#"{"id": "zz", "sta"#.utf8))
        try h.close()

        let r = try CLI.run(args)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("already in"))
        #expect(r.stderr.contains("ETA"))
        let final = lines().map { try! JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        #expect(final.map { $0["id"] as! String } == ids)
        for obj in final { #expect((obj["code"] as? String)?.hasPrefix("defmodule ") == true) }
        #expect(Array(lines().prefix(partial.count)) == partial, "what the first run wrote is kept as it was")
    }

    @Test("a malformed input line is reported with its line number")
    func badInput() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("ec-bad-\(UUID().uuidString).jsonl")
        try "{\"id\": \"a\", \"task\": \"x\"}\nnot json\n".write(to: file, atomically: true, encoding: .utf8)
        let r = try CLI.run(["batch", file.path])
        #expect(r.status != 0)
        #expect(r.stderr.contains(":2:"))
    }

    @Test("an output that is the input, or a file that is not batch results, is refused untouched; --force keeps it as .bak")
    func refusesForeignOutput() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ec-batch-out-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let input = dir.appendingPathComponent("tasks.jsonl")
        try #"{"id": "a", "task": "Add two numbers."}"#.write(to: input, atomically: true, encoding: .utf8)
        let notes = dir.appendingPathComponent("notes.md")
        let text = "# Notes\n\nkeep me\n"
        try text.write(to: notes, atomically: true, encoding: .utf8)

        let same = try CLI.run(["batch", input.path, "-o", input.path])
        #expect(same.status != 0 && same.stderr.contains("is the input"))
        #expect(try String(contentsOf: input, encoding: .utf8).contains(#""id": "a""#))

        let foreign = try CLI.run(["batch", input.path, "-o", notes.path])
        #expect(foreign.status != 0 && foreign.stderr.contains("not a batch result"), "\(foreign.stderr)")
        #expect(try String(contentsOf: notes, encoding: .utf8) == text, "the file is left as it was")

        let forced = try CLI.run(["batch", input.path, "-o", notes.path, "--force", "--candidates", "1", "--max-attempts", "1", "--max-tokens", "12", "--no-synthesize"])
        #expect(forced.status == 0, "\(forced.stderr)")
        #expect(try String(contentsOfFile: notes.path + ".bak", encoding: .utf8) == text)
        #expect(try String(contentsOf: notes, encoding: .utf8).contains(#""id":"a""#))
    }
}
