import ArgumentParser
import Checks
import Clarification
import CommandLineOptions
import ElixirCoderApp
import ElixirCoderCore
import Foundation
import Telemetry

/// `bench quality --ambiguous`: the functional benchmark's row for issue 31, pass rates on
/// ambiguous tasks as written and with the user's answer folded in.
extension BenchQualityCommand {
    /// A task that leaves something open, with the answer a user would give and hidden tests of the answered behaviour.
    struct AmbiguousTask: Decodable {
        let id: String
        let level: String
        let kind: String
        let task: String
        let context: String?
        let tests: String
        let answer: String
    }

    /// One ambiguous task's two runs.
    struct AmbiguousRow: Codable {
        var id: String
        var kind: String
        /// Whether the detector asked (the CLI folds the answer in only then).
        var asked: Bool
        /// The kind of the question the answer was folded into (the detector's first, or its likeliest kind's).
        var askedKind: String?
        var passedAsWritten: Bool
        var passedAnswered: Bool
        var statusAsWritten: String
        var statusAnswered: String
        var clarifySeconds: Double
    }

    /// Pass rates with and without the answer.
    struct AmbiguousSummary: Encodable {
        var tasks: Int
        /// Tasks the detector asked about, and of those, asked about the labelled kind.
        var asked: Int
        var askedRightKind: Int
        var passedAsWritten: Int
        var passedAnswered: Int
        /// Of the tasks it asked about, those that pass with the answer: what `generate --clarify` gives.
        var passedAnsweredWhereAsked: Int
    }

    /// Each task generated as written, then clarified the way `generate --clarify --answer` does
    /// it (the detector with its default settings, the answer folded into the task by
    /// `Clarifier.fold`) and generated again; both scored by the hidden tests.
    func runAmbiguous() async throws {
        guard let text = try? String(contentsOfFile: ambiguousTasks, encoding: .utf8) else { throw ValidationError("cannot read \(ambiguousTasks)") }
        var all: [AmbiguousTask] = []
        for (n, line) in text.split(separator: "\n").enumerated() {
            do { all.append(try JSONDecoder().decode(AmbiguousTask.self, from: Data(line.utf8))) } catch {
                throw ValidationError("\(ambiguousTasks):\(n + 1): not an ambiguous task (\(error))")
            }
        }
        if let ids { let wanted = Set(ids.split(separator: ",").map(String.init)); all = all.filter { wanted.contains($0.id) } }
        if let limit { all = Array(all.prefix(limit)) }
        guard !all.isEmpty else { throw ValidationError("no tasks to run") }
        let setup = try GenerationSetup.make(modelOptions: modelOptions, observability: nil)
        defer { setup.close() }
        let generator = setup.observed.primary
        let clarifier = try setup.clarifier(ClarifySettings())
        var scorer = TestRunner()
        scorer.timeout = 5
        var rows: [AmbiguousRow] = []
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Each row is written as it is scored, so an interrupted run keeps what it measured.
        let out = FileManager.default.createFile(atPath: ambiguousResults, contents: nil) ? FileHandle(forWritingAtPath: ambiguousResults) : nil
        defer { try? out?.close() }
        for (n, t) in all.enumerated() {
            var o = try options(setup)
            o.context = t.context
            let plain = try await generator.generate(task: t.task, options: o)
            let analysis = try await clarifier.analyze(task: t.task)
            let asked = analysis.verdict == .ask ? analysis.questions.first : nil
            // Where the detector would proceed, the answer goes with the question it would have asked
            // (its likeliest kind's catalogue question), so that the row measures what the answer is worth.
            let question = asked ?? analysis.learned.flatMap {
                clarifier.questions.catalogueQuestion($0.kind, task: t.task, subject: Clarifier.subject(of: t.task), weight: 1)
            }
            let folded = question.map { Clarifier.fold(task: t.task, question: $0, answer: t.answer) } ?? t.task
            let answered = try await generator.generate(task: folded, options: o)
            let row = AmbiguousRow(id: t.id, kind: t.kind, asked: asked != nil, askedKind: question?.type.rawValue,
                                   passedAsWritten: try Self.score(plain.code, tests: t.tests, runner: scorer).passed,
                                   passedAnswered: try Self.score(answered.code, tests: t.tests, runner: scorer).passed,
                                   statusAsWritten: plain.status.rawValue, statusAnswered: answered.status.rawValue, clarifySeconds: analysis.seconds)
            rows.append(row)
            try out?.write(contentsOf: try encoder.encode(row) + Data("\n".utf8))
            Stderr.print("[\(n + 1)/\(all.count)] \(t.id) \(t.kind): as written \(row.passedAsWritten ? "PASS" : "fail"), \(row.asked ? "asked" : "not asked"), "
                         + "question \(row.askedKind ?? "none"), answered \(row.passedAnswered ? "PASS" : "fail")")
        }
        let summary = AmbiguousSummary(tasks: rows.count, asked: rows.filter(\.asked).count, askedRightKind: rows.filter { $0.asked && $0.askedKind == $0.kind }.count,
                                       passedAsWritten: rows.filter(\.passedAsWritten).count, passedAnswered: rows.filter(\.passedAnswered).count,
                                       passedAnsweredWhereAsked: rows.filter { $0.asked && $0.passedAnswered }.count)
        if json { return try printJSON(summary) }
        let env = RunMetadata.Environment.current()
        print("ambiguous tasks: \(summary.tasks) (\(env.cpu), \(env.cores) cores)")
        print("  hidden tests pass as written:       \(summary.passedAsWritten)/\(summary.tasks)")
        print("  hidden tests pass with the answer:  \(summary.passedAnswered)/\(summary.tasks)")
        print("  the detector asked on \(summary.asked) (of the labelled kind on \(summary.askedRightKind)); of those, \(summary.passedAnsweredWhereAsked) pass with the answer")
    }
}
