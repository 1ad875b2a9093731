import ArgumentParser
import CommandLineOptions
import Clarification
import ElixirCoderApp
import ElixirCoderCore
import Foundation

/// `elixir-coder bench clarify`: precision and recall of should-ask, accuracy of the ambiguity type.
struct BenchClarifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clarify",
        abstract: "Run the ambiguity detector over labelled tasks; print precision and recall of asking and the ambiguity type's accuracy, for the sampled programs alone, the task's words alone, and both.",
        discussion: "Task files are JSON lines with id, task, ambiguous (bool) and type (error_handling, concurrency, data_structure, external_dependency or null). bench/clarify.jsonl is the development set; bench/clarify_holdout.jsonl was written after the text lexicon and never tuned on."
    )

    @Option(help: "Labelled task files.") var tasks: [String] = ["bench/clarify.jsonl", "bench/clarify_holdout.jsonl"]
    @Option(help: "Use only the first N tasks of each file.") var limit: Int?
    @Flag(help: "Print JSON.") var json = false
    @OptionGroup var clarify: ClarifyOptions
    @OptionGroup var modelOptions: ModelOptions

    struct Labelled: Decodable {
        let id: String
        let task: String
        let ambiguous: Bool
        let type: String?
    }

    /// Confusion counts of one detector.
    struct Score: Encodable {
        var tp = 0, fp = 0, fn = 0, tn = 0, typeRight = 0, typeJudged = 0
        var precision: Double { tp + fp == 0 ? 0 : Double(tp) / Double(tp + fp) }
        var recall: Double { tp + fn == 0 ? 0 : Double(tp) / Double(tp + fn) }
        var typeAccuracy: Double { typeJudged == 0 ? 0 : Double(typeRight) / Double(typeJudged) }

        mutating func add(asked: Bool, type: AmbiguityType?, label: Labelled) {
            switch (asked, label.ambiguous) {
            case (true, true): tp += 1
            case (true, false): fp += 1
            case (false, true): fn += 1
            case (false, false): tn += 1
            }
            if asked && label.ambiguous {
                typeJudged += 1
                if type?.rawValue == label.type { typeRight += 1 }
            }
        }

        enum CodingKeys: String, CodingKey { case tp, fp, fn, tn, precision, recall, typeAccuracy }
        func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(tp, forKey: .tp); try c.encode(fp, forKey: .fp); try c.encode(fn, forKey: .fn); try c.encode(tn, forKey: .tn)
            try c.encode(precision, forKey: .precision); try c.encode(recall, forKey: .recall); try c.encode(typeAccuracy, forKey: .typeAccuracy)
        }
    }

    struct FileResult: Encodable {
        let file: String
        let tasks: Int
        let samples: Score
        let text: Score
        let combined: Score
        let secondsPerTask: Double
    }

    func run() async throws {
        let setup = try GenerationSetup.make(modelOptions: modelOptions, observability: nil)
        defer { setup.close() }
        var settings = clarify.settings
        settings.modelQuestions = false
        let clarifier = try setup.clarifier(settings)
        var results: [FileResult] = []
        for file in tasks {
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { throw ValidationError("cannot read \(file)") }
            var labelled = try text.split(separator: "\n").map { try JSONDecoder().decode(Labelled.self, from: Data($0.utf8)) }
            if let limit { labelled = Array(labelled.prefix(limit)) }
            var s = Score(), t = Score(), c = Score()
            let start = Date()
            for (n, l) in labelled.enumerated() {
                let a = try await clarifier.analyze(task: l.task)
                s.add(asked: a.samplesSayAsk, type: a.sampleAmbiguity, label: l)
                t.add(asked: !a.textAspects.isEmpty, type: a.textAspects.first?.type, label: l)
                c.add(asked: a.verdict == .ask, type: a.ambiguity, label: l)
                Stderr.print(String(format: "[%d/%d] %@ %@ label %@ -> samples %@ (H %.2f, %d clusters), text %@, verdict %@ %@", n + 1, labelled.count, l.id,
                                    (file as NSString).lastPathComponent, l.ambiguous ? (l.type ?? "?") : "clear",
                                    a.samplesSayAsk ? (a.sampleAmbiguity?.rawValue ?? "ask") : "proceed", a.entropy, a.clusters.count,
                                    a.textAspects.first?.type.rawValue ?? "-", a.verdict.rawValue, a.ambiguity?.rawValue ?? ""))
            }
            results.append(FileResult(file: file, tasks: labelled.count, samples: s, text: t, combined: c,
                                      secondsPerTask: Date().timeIntervalSince(start) / Double(max(1, labelled.count))))
        }
        if json { return try printJSON(results) }
        for r in results {
            print("\(r.file): \(r.tasks) tasks, \(String(format: "%.1f", r.secondsPerTask)) s per task")
            for (name, sc) in [("sampled programs", r.samples), ("task text", r.text), ("combined (default)", r.combined)] {
                print(String(format: "  %-19@ precision %5.1f%%  recall %5.1f%%  type accuracy %5.1f%% (%d/%d)  [tp %d fp %d fn %d tn %d]", name,
                             sc.precision * 100, sc.recall * 100, sc.typeAccuracy * 100, sc.typeRight, sc.typeJudged, sc.tp, sc.fp, sc.fn, sc.tn))
            }
        }
    }
}
