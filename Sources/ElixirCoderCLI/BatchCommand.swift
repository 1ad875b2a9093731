import ArgumentParser
import CommandLineOptions
import Checks
import ElixirCoderApp
import ElixirCoderCore
import Engine
import Foundation
import Pipeline
import Serving
import Telemetry

/// `elixir-coder batch`: generate for every task in a JSON-lines file, resumably.
struct BatchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "batch",
        abstract: "Run generate over a JSON-lines file of tasks ({\"id\", \"task\", \"context\"?, \"tests\"?, \"examples\"?}), writing results in input order.",
        discussion: "Each result is written and flushed as soon as every earlier task is done, so an interrupted run loses nothing already written; rerunning skips ids already in the output. Progress with an ETA goes to stderr."
    )

    @Argument(help: "Input file: one JSON object per line with \"id\" and \"task\".") var input: String
    @Option(name: .shortAndLong, help: "Output file (default: INPUT with .out.jsonl).") var output: String?
    @Option(help: "Tasks in flight at once; they share the model's batch.") var jobs = 4
    @OptionGroup var budget: GenerateBudgetOptions
    @Flag(help: "Do not run the tasks' examples against candidates (a task's \"examples\": false does the same for that task); a task's \"tests\" field is always run.") var noRunExamples = false
    @Flag(help: "Do not search library compositions that give a task's examples before sampling.") var noSynthesize = false
    @Flag(help: "Start afresh when the output exists and is not this command's results (the old file is kept as OUTPUT.bak).") var force = false
    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var observability: ObservabilityOptions
    @OptionGroup var grammarOptions: PipelineGrammarOptions

    struct Task: Decodable, Sendable {
        let id: String
        let task: String
        let context: String?
        /// ExUnit tests for this task's candidates.
        let tests: String?
        /// Whether to run the task's examples; nil follows the flag.
        let examples: Bool?

        enum CodingKeys: String, CodingKey { case id, task, context, tests, examples }
        init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            if let s = try? c.decode(String.self, forKey: .id) { id = s } else { id = String(try c.decode(Int.self, forKey: .id)) }
            task = try c.decode(String.self, forKey: .task)
            context = try c.decodeIfPresent(String.self, forKey: .context)
            tests = try c.decodeIfPresent(String.self, forKey: .tests)
            examples = try c.decodeIfPresent(Bool.self, forKey: .examples)
        }
    }

    struct Line: Encodable {
        let id: String
        let status: String
        let code: String
        let problems: [Finding]
        let evidence: Evidence
        let attempt: Int
        let attempts: Int
        let seconds: Double
        let decision: String?
        let clarification: String?
    }

    func run() async throws {
        guard jobs >= 1 else { throw ValidationError("--jobs must be at least 1") }
        guard let text = try? String(contentsOfFile: input, encoding: .utf8) else { throw ValidationError("cannot read \(input)") }
        var tasks: [Task] = []
        for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() where !line.trimmingCharacters(in: .whitespaces).isEmpty {
            do { tasks.append(try JSONDecoder().decode(Task.self, from: Data(line.utf8))) } catch {
                throw ValidationError("\(input):\(n + 1): not a task object with \"id\" and \"task\" (\(error))")
            }
        }
        let outPath = output ?? (input.hasSuffix(".jsonl") ? String(input.dropLast(6)) : input) + ".out.jsonl"
        if URL(fileURLWithPath: outPath).standardizedFileURL.resolvingSymlinksInPath() == URL(fileURLWithPath: input).standardizedFileURL.resolvingSymlinksInPath() {
            throw ValidationError("the output \(outPath) is the input: choose another -o")
        }
        if force, FileManager.default.fileExists(atPath: outPath) {
            // Kept, not overwritten: nothing a user had there is lost.
            let backup = outPath + ".bak"
            try? FileManager.default.removeItem(atPath: backup)
            try FileManager.default.moveItem(atPath: outPath, toPath: backup)
            Stderr.print("--force: the old \(outPath) is now \(backup)")
        }
        let done = try Self.completedIDs(outPath)
        let todo = tasks.filter { !done.contains($0.id) }
        Stderr.print("\(tasks.count) tasks, \(done.count) already in \(outPath), \(todo.count) to run")
        guard !todo.isEmpty else { return }

        let setup = try GenerationSetup.make(modelOptions: modelOptions, observability: observability, grammarOptions: grammarOptions)
        defer { setup.close() }
        var options = try setup.options()
        options.runExamples = !noRunExamples
        options.synthesize = !noSynthesize
        budget.apply(to: &options)

        if !FileManager.default.fileExists(atPath: outPath) {
            guard FileManager.default.createFile(atPath: outPath, contents: nil) else { throw ValidationError("cannot create \(outPath)") }
        }
        guard let out = FileHandle(forWritingAtPath: outPath) else { throw ValidationError("cannot write \(outPath)") }
        defer { try? out.close() }
        try out.seekToEnd()

        let start = Date()
        var ready: [Int: Line] = [:]
        var next = 0
        var verified = 0, compiled = 0
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var results: [GenerateResult] = []
        try await withThrowingTaskGroup(of: (Int, Line, GenerateResult).self) { group in
            var launched = 0
            func launch() {
                let i = launched
                let t = todo[i]
                var o = options
                o.context = t.context
                o.tests = t.tests
                o.runExamples = t.examples ?? o.runExamples
                group.addTask {
                    let s = Date()
                    let r = try await setup.generate(task: t.task, options: o)
                    return (i, Line(id: t.id, status: r.status.rawValue, code: r.code, problems: r.problems, evidence: r.evidence, attempt: r.attempt,
                                    attempts: r.attempts.count, seconds: Date().timeIntervalSince(s), decision: r.gating?.decision.rawValue,
                                    clarification: r.clarification), r)
                }
                launched += 1
            }
            while launched < min(jobs, todo.count) { launch() }
            for try await (i, line, result) in group {
                ready[i] = line
                results.append(result)
                // Write in input order, flushing each line, so the file is always a prefix of the input.
                while let l = ready.removeValue(forKey: next) {
                    try out.write(contentsOf: try encoder.encode(l) + Data("\n".utf8))
                    try out.synchronize()
                    if l.status == "verified" { verified += 1 }
                    if l.status == "compiled" { compiled += 1 }
                    next += 1
                }
                Self.progress(finished: next, total: todo.count, start: start)
                if launched < todo.count { launch() }
            }
        }
        FileHandle.standardError.write(Data("\n".utf8))
        if setup.observed.shadow != nil {
            let outcomes = await setup.finishShadows()
            Stderr.print("shadow: \(outcomes.filter { $0.status == .success }.count) of \(outcomes.count) answered; see `elixir-coder stats`")
        }
        var timings = PhaseTimings()
        for r in results { timings.merge(r.timings) }
        if let path = setup.writeRunLog(command: "batch", started: start, results: results, timings: timings) { Stderr.print("run log: \(path.path)") }
        Stderr.print(String(format: "%d done, %d verified, %d compiled, %.1f s; results in %@", todo.count, verified, compiled, Date().timeIntervalSince(start), outPath))
    }

    /// Ids already written; a torn last line from an interrupted run is cut off first. A file
    /// that is not a results file (a line that is not a result, other than a torn last one) is
    /// refused before anything is written to it.
    static func completedIDs(_ path: String) throws -> Set<String> {
        guard let data = FileManager.default.contents(atPath: path), !data.isEmpty else { return [] }
        var ids: Set<String> = []
        var keep = 0
        var offset = 0
        for (n, line) in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).enumerated() {
            defer { offset += line.count + 1 }
            guard offset + line.count < data.count else { break }  // no newline after it: torn
            guard let obj = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any], let id = obj["id"] as? String, obj["status"] is String else {
                throw ValidationError("\(path):\(n + 1) is not a batch result, so \(path) is not this command's output: choose another -o, or pass --force to start afresh (the file is kept as \(path).bak)")
            }
            ids.insert(id)
            keep = offset + line.count + 1
        }
        if keep < data.count, let h = FileHandle(forWritingAtPath: path) {
            try h.truncate(atOffset: UInt64(keep))
            try h.close()
        }
        return ids
    }

    static func progress(finished: Int, total: Int, start: Date) {
        let width = 30
        let filled = total == 0 ? width : finished * width / total
        let elapsed = Date().timeIntervalSince(start)
        let eta = finished == 0 ? 0 : elapsed / Double(finished) * Double(total - finished)
        let bar = String(repeating: "=", count: filled) + String(repeating: " ", count: width - filled)
        FileHandle.standardError.write(Data(String(format: "\r[%@] %d/%d  %.0f s elapsed, ETA %.0f s ", bar, finished, total, elapsed, eta).utf8))
    }
}
