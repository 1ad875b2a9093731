import ArgumentParser
import CommandLineOptions
import Clarification
import ElixirCoderApp
import ElixirCoderCore
import Foundation
import Synchronization

/// `elixir-coder-bench clarify`: precision and recall of asking and the accuracy of the kind asked
/// about, with 95% Wilson intervals, per signal; `--train` fits the learned text signal.
struct BenchClarifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clarify",
        abstract: "Run the ambiguity detector over labelled tasks; print precision and recall of asking and the accuracy of the kind asked about, with 95% Wilson intervals, for each signal and the combined rule. With --train, fit the classifier over the model's embeddings on the development part instead.",
        discussion: """
        Task files are JSON lines with id, task, ambiguous (bool), type (error_handling, concurrency, data_structure, external_dependency, io_format, edge_cases or null), ask and split (dev or heldout; lines without a split count as held out). bench/clarify_set.jsonl is the labelled set of issue 31: the held-out part is never used for training or tuning.
        --train embeds the development part, picks the L2 penalty, the emphasis of the catalogue's selecting words and the asking threshold by 8-fold cross-validation on it (threshold: highest recall with precision at least 0.9), fits on the whole development part and writes the weights (deterministic: full-batch gradient descent from zero).
        """
    )

    enum Split: String, ExpressibleByArgument, CaseIterable { case dev, heldout, all }

    @Option(help: "Labelled task files.") var tasks: [String] = ["bench/clarify_set.jsonl"]
    @Option(help: "Which part to evaluate: \(Split.allCases.map(\.rawValue).joined(separator: ", ")).") var split: Split = .heldout
    @Option(help: "Use only the first N tasks of each file.") var limit: Int?
    @Flag(help: "Train the classifier on the development part and write it to --classifier (evaluates nothing).") var train = false
    @Option(help: "Where --train writes the weights.") var classifier = "templates/" + TaskClassifier.fileName
    @Option(help: "Also write each task's embedding and zero-shot scores (id, split, embedding) as JSON lines to this file (with --train).") var embeddingsOut: String?
    @Option(help: "Read the embeddings from a file --embeddings-out wrote with the same model and frame instead of running the model (with --train).") var embeddingsIn: String?
    @Flag(help: "Print JSON.") var json = false
    @OptionGroup var clarify: ClarifyOptions
    @OptionGroup var modelOptions: ModelOptions

    struct Labelled: Decodable {
        let id: String
        let task: String
        let ambiguous: Bool
        let type: String?
        let split: String?
        var part: Split { split.flatMap(Split.init(rawValue:)) ?? .heldout }
    }

    /// A proportion with its 95% Wilson score interval.
    struct Proportion: Encodable {
        let successes: Int
        let trials: Int
        var value: Double { trials == 0 ? 0 : Double(successes) / Double(trials) }
        var interval: [Double] { let w = Wilson.interval(successes, trials); return [w.lower, w.upper] }

        enum CodingKeys: String, CodingKey { case successes, trials, value, interval }
        func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(successes, forKey: .successes); try c.encode(trials, forKey: .trials)
            try c.encode(value, forKey: .value); try c.encode(interval, forKey: .interval)
        }

        var text: String {
            let i = interval
            return String(format: "%5.1f%% [%4.1f, %5.1f] (%d/%d)", value * 100, i[0] * 100, i[1] * 100, successes, trials)
        }
    }

    /// Confusion counts of one detector.
    struct Score: Encodable {
        var tp = 0, fp = 0, fn = 0, tn = 0, kindRight = 0, kindJudged = 0
        var precision: Proportion { Proportion(successes: tp, trials: tp + fp) }
        var recall: Proportion { Proportion(successes: tp, trials: tp + fn) }
        /// Of the ambiguous tasks it asked about, those asked about the labelled kind.
        var kindAccuracy: Proportion { Proportion(successes: kindRight, trials: kindJudged) }

        mutating func add(asked: Bool, kind: AmbiguityType?, label: Labelled) {
            switch (asked, label.ambiguous) {
            case (true, true): tp += 1
            case (true, false): fp += 1
            case (false, true): fn += 1
            case (false, false): tn += 1
            }
            if asked && label.ambiguous {
                kindJudged += 1
                if kind?.rawValue == label.type { kindRight += 1 }
            }
        }

        enum CodingKeys: String, CodingKey { case tp, fp, fn, tn, precision, recall, kindAccuracy }
        func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(tp, forKey: .tp); try c.encode(fp, forKey: .fp); try c.encode(fn, forKey: .fn); try c.encode(tn, forKey: .tn)
            try c.encode(precision, forKey: .precision); try c.encode(recall, forKey: .recall); try c.encode(kindAccuracy, forKey: .kindAccuracy)
        }
    }

    struct FileResult: Encodable {
        let file: String
        let split: String
        let tasks: Int
        /// Per signal: learned (classifier over the embedding), words (the word list), samples (compiled spread), combined (the verdict).
        let scores: [String: Score]
        let medianSeconds: Double
        let maxSeconds: Double
    }

    func run() async throws {
        let setup = try GenerationSetup.make(modelOptions: modelOptions, observability: nil)
        defer { setup.close() }
        var settings = clarify.settings
        settings.modelQuestions = false
        let clarifier = try setup.clarifier(settings)
        var files: [(String, [Labelled])] = []
        for file in tasks {
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { throw ValidationError("cannot read \(file)") }
            var labelled: [Labelled] = []
            for (n, line) in text.split(separator: "\n").enumerated() {
                do { labelled.append(try JSONDecoder().decode(Labelled.self, from: Data(line.utf8))) } catch {
                    throw ValidationError("\(file):\(n + 1): not a labelled task (\(error))")
                }
            }
            files.append((file, limit.map { Array(labelled.prefix($0)) } ?? labelled))
        }
        if train { return try trainClassifier(clarifier, files.flatMap(\.1)) }
        var results: [FileResult] = []
        for (file, all) in files {
            let labelled = all.filter { split == .all || $0.part == split }
            var scores: [String: Score] = ["learned": Score(), "words": Score(), "samples": Score(), "combined": Score()]
            var seconds: [Double] = []
            for (n, l) in labelled.enumerated() {
                let a = try await clarifier.analyze(task: l.task)
                seconds.append(a.seconds)
                if let learned = a.learned { scores["learned"]!.add(asked: learned.saysAsk, kind: learned.kind, label: l) }
                scores["words"]!.add(asked: !a.textAspects.isEmpty, kind: a.textAspects.first?.type, label: l)
                if settings.samples >= 2 { scores["samples"]!.add(asked: a.samplesSayAsk, kind: a.sampleAmbiguity, label: l) }
                scores["combined"]!.add(asked: a.verdict == .ask, kind: a.ambiguity, label: l)
                Stderr.print(String(format: "[%d/%d] %@ label %@ -> learned %@ (P %.2f, %@), words %@, samples %@ (%@ compiled, H %.2f), verdict %@ %@ (%.2f s)",
                                    n + 1, labelled.count, l.id, l.ambiguous ? (l.type ?? "?") : "clear",
                                    a.learned?.saysAsk == true ? "ask" : "proceed", a.learned?.ambiguity ?? -1, a.learned?.kind.rawValue ?? "-",
                                    a.textAspects.first?.type.rawValue ?? "-", a.samplesSayAsk ? (a.sampleAmbiguity?.rawValue ?? "ask") : "proceed",
                                    a.compiledSamples.map(String.init) ?? "-", a.entropy, a.verdict.rawValue, a.ambiguity?.rawValue ?? "", a.seconds))
            }
            if settings.samples < 2 { scores["samples"] = nil }
            if clarifier.classifier == nil { scores["learned"] = nil }
            let sorted = seconds.sorted()
            results.append(FileResult(file: file, split: split.rawValue, tasks: labelled.count, scores: scores,
                                      medianSeconds: sorted.isEmpty ? 0 : sorted[sorted.count / 2], maxSeconds: sorted.last ?? 0))
        }
        if json { return try printJSON(results) }
        for r in results {
            print(String(format: "%@ (%@ part): %d tasks, asking took %.2f s median, %.2f s at most", r.file, r.split, r.tasks, r.medianSeconds, r.maxSeconds))
            for name in ["learned", "words", "samples", "combined"] {
                guard let sc = r.scores[name] else { continue }
                print("  \(name.padding(toLength: 9, withPad: " ", startingAt: 0)) precision \(sc.precision.text)  recall \(sc.recall.text)  kind \(sc.kindAccuracy.text)  [tp \(sc.tp) fp \(sc.fp) fn \(sc.fn) tn \(sc.tn)]")
            }
        }
    }

    /// Embeds the development part, cross-validates the penalty, the words' emphasis and the threshold, fits and writes the classifier.
    func trainClassifier(_ clarifier: Clarifier, _ labelled: [Labelled]) throws {
        let dev = labelled.filter { $0.part == .dev }
        guard dev.count >= 16 else { throw ValidationError("only \(dev.count) development tasks: too few to train on") }
        guard let embedder = clarifier.embedder else { throw ValidationError("the model has no local weights to embed with (a remote backend?)") }
        var stored: [String: [Float]] = [:]
        if let embeddingsIn {
            guard let text = try? String(contentsOfFile: embeddingsIn, encoding: .utf8) else { throw ValidationError("cannot read \(embeddingsIn)") }
            for line in text.split(separator: "\n") {
                guard let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], let id = o["id"] as? String,
                      let e = o["embedding"] as? [Double] else { throw ValidationError("\(embeddingsIn): not an embedding line") }
                stored[id] = e.map(Float.init)
            }
        }
        var collected: [LabelledEmbedding] = []
        var dump = ""
        for (n, l) in labelled.enumerated() {
            let e = stored[l.id] ?? Clarifier.embedding(of: l.task, embedder: embedder, tokenizer: clarifier.generator.instance.tokenizer)
            // The input `Clarifier.classifierInput` gives: the model's part, then the selecting words.
            let x = e + clarifier.questions.selectingWords(l.task)
            if l.part == .dev { collected.append(LabelledEmbedding(embedding: x, ambiguous: l.ambiguous, kind: l.type.flatMap(AmbiguityType.init(rawValue:)))) }
            if embeddingsOut != nil {
                dump += String(decoding: try JSONSerialization.data(withJSONObject: ["id": l.id, "split": l.part.rawValue, "embedding": e.map(Double.init)]), as: UTF8.self) + "\n"
            }
            if (n + 1) % 24 == 0 { Stderr.print("embedded \(n + 1)/\(labelled.count)") }
        }
        if let embeddingsOut { try dump.write(toFile: embeddingsOut, atomically: true, encoding: .utf8) }
        let examples = collected
        let kinds = AmbiguityType.labelled
        let folds = 8
        let words = AmbiguityType.labelled.count
        // The grid is searched in parallel; each cell is deterministic, so the choice is too.
        let grid: [(lambda: Double, emphasis: Float)] = [0.1, 1, 100].flatMap { lambda in [Float(1), 5].map { (lambda, $0) } }
        let cells = Mutex([(right: Int, kindRight: Int, oof: [(ambiguity: Double, kind: AmbiguityType?)])?](repeating: nil, count: grid.count))
        DispatchQueue.concurrentPerform(iterations: grid.count) { c in
            let oof = TaskClassifier.crossValidate(examples, kinds: kinds, lambda: grid[c].lambda, folds: folds, emphasis: (words, grid[c].emphasis))
            let right = examples.indices.filter { (oof[$0].ambiguity >= 0.5) == examples[$0].ambiguous }.count
            let kindRight = examples.indices.filter { examples[$0].ambiguous && oof[$0].kind == examples[$0].kind }.count
            cells.withLock { $0[c] = (right, kindRight, oof) }
        }
        var best: (cell: Int, score: Int)?
        for (c, cell) in cells.withLock({ $0 }).enumerated() {
            let (right, kindRight, _) = cell!
            Stderr.print("lambda \(grid[c].lambda), word emphasis \(grid[c].emphasis): out-of-fold ask accuracy \(right)/\(examples.count), kind \(kindRight)/\(examples.filter(\.ambiguous).count)")
            // Ties go to the later cell: the larger penalty, simpler weights.
            if best == nil || right + kindRight >= best!.score { best = (c, right + kindRight) }
        }
        let (lambda, emphasis) = grid[best!.cell]
        let oof = cells.withLock { $0[best!.cell]!.oof }
        let threshold = Self.threshold(oof.map(\.ambiguity), examples.map(\.ambiguous), minimumPrecision: 0.9)
        let asked = examples.indices.filter { oof[$0].ambiguity >= threshold }
        let tp = asked.filter { examples[$0].ambiguous }.count
        let kindRight = asked.filter { examples[$0].ambiguous && oof[$0].kind == examples[$0].kind }.count
        let provenance = String(format: "trained by `elixir-coder-bench clarify --train` on %d development tasks of %@; lambda %g, word emphasis %g and threshold %.3f from %d-fold cross-validation (out of fold: precision %d/%d, recall %d/%d, kind %d/%d)",
                                examples.count, tasks.joined(separator: ", "), lambda, emphasis, threshold, folds, tp, asked.count, tp,
                                examples.filter(\.ambiguous).count, kindRight, tp)
        let model = TaskClassifier.train(examples, kinds: kinds, lambda: lambda, threshold: threshold, emphasis: (words, emphasis), provenance: provenance)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try encoder.encode(model).write(to: URL(fileURLWithPath: classifier))
        print(provenance)
        print("wrote \(classifier)")
    }

    /// The threshold with the highest recall among those whose precision is at least `minimumPrecision`
    /// (the best F1 when none reaches it); thresholds lie halfway between neighbouring scores.
    static func threshold(_ scores: [Double], _ labels: [Bool], minimumPrecision: Double) -> Double {
        let s = Array(Set(scores)).sorted()
        let candidates = zip(s, s.dropFirst()).map { ($0 + $1) / 2 } + [s.first ?? 0.5]
        func counts(_ t: Double) -> (tp: Int, fp: Int, fn: Int) {
            var c = (tp: 0, fp: 0, fn: 0)
            for (x, y) in zip(scores, labels) {
                if x >= t { if y { c.tp += 1 } else { c.fp += 1 } } else if y { c.fn += 1 }
            }
            return c
        }
        let precise = candidates.filter { let c = counts($0); return c.tp > 0 && Double(c.tp) / Double(c.tp + c.fp) >= minimumPrecision }
        if let t = precise.max(by: { (counts($0).tp, $0) < (counts($1).tp, $1) }) { return t }
        return candidates.max { a, b in
            let (x, y) = (counts(a), counts(b))
            return Double(2 * x.tp) / Double(max(1, 2 * x.tp + x.fp + x.fn)) < Double(2 * y.tp) / Double(max(1, 2 * y.tp + y.fp + y.fn))
        } ?? 0.5
    }
}
