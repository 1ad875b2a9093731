import Foundation
import Mustache

/// What a task leaves open, from the facts that split the sampled programs.
public enum AmbiguityType: String, Sendable, Codable, CaseIterable {
    case errorHandling = "error_handling"
    case concurrency
    case dataStructure = "data_structure"
    case externalDependency = "external_dependency"
    /// What the inputs and outputs look like (types, shapes, units, formats).
    case inputOutput = "io_format"
    /// What boundary inputs give: empty collections, ties, zero, negative numbers.
    case edgeCases = "edge_cases"
    /// Names and arities of the public functions differ, nothing else does.
    case interface

    /// The kinds the labelled set and the classifier know (all but `interface`, which only samples reveal).
    public static let labelled: [AmbiguityType] = [.errorHandling, .concurrency, .dataStructure, .externalDependency, .inputOutput, .edgeCases]

    /// The fact group whose split reveals this ambiguity.
    public var group: FactGroup {
        switch self {
        case .errorHandling: .errorHandling
        case .concurrency: .concurrency
        case .dataStructure: .dataStructures
        case .externalDependency: .dependencies
        case .inputOutput, .interface: .functions
        case .edgeCases: .behaviour
        }
    }
}

/// One answer a question offers, with the share of the sampled programs behind it.
public struct AnswerOption: Sendable, Codable, Equatable {
    /// 1-based, for a terminal prompt.
    public var label: Int
    public var text: String
    /// The fact values this answer stands for (`none` when the programs had none).
    public var key: String
    public var probability: Double
    /// Indices of the clusters that took this answer.
    public var clusters: [Int]
}

/// A clarifying question, scored by the expected value of its answer.
public struct RankedQuestion: Sendable, Codable, Equatable {
    public var type: AmbiguityType
    public var text: String
    public var options: [AnswerOption]
    /// `catalogue` (a kind's real choices, filled with the task's nouns), `template` (filled from the task and the clusters) or `model`.
    public var origin: String
    /// Expected drop of the semantic entropy once the answer is known (nats).
    public var expectedEntropyDrop: Double
    /// Expected gain in the probability that the program then chosen is the intended one.
    public var expectedAccuracyGain: Double
}

/// Question templates per ambiguity type (`templates/clarify.json`).
public struct QuestionTemplates: Sendable {
    /// One type's template.
    public struct Entry: Sendable, Decodable {
        public var group: String
        public var question: String
        /// "how errors ... should be handled": the doubt in words, for model prompts.
        public var ask: String
        /// Words a model question must contain to count as being about this type.
        public var keywords: [String]
        public var options: [String: String]
        /// Words showing the task touches this aspect ("safely", "in the background"); lowercase ones match at word starts.
        public var aspect: [String]
        /// Words showing the task already decided it ("{:error", "GenServer").
        public var specific: [String]
        /// Options to offer when the samples did not split on this aspect.
        public var defaultOptions: [String]
        /// The choices an Elixir developer actually faces for this kind, by topic.
        public var catalogue: [Topic]
    }

    /// One topic of a kind's catalogue ("HTTP client", "JSON library"): when it applies, what to ask, the real choices.
    public struct Topic: Sendable, Decodable {
        public var name: String
        /// Words that show the task is about this topic (matched as `mentions` matches); empty for the kind's fallback.
        public var when: [String]
        /// What the question is about when the task names nothing ("invalid input or failures").
        public var noun: String
        /// Mustache: `{{subject}}` and `{{noun}}`.
        public var question: String
        public var options: [String]
    }

    public let entries: [String: Entry]

    public init(file: URL) throws {
        do {
            entries = try JSONDecoder().decode([String: Entry].self, from: Data(contentsOf: file))
        } catch {
            throw ClarificationError("\(file.path): not a valid question template file (\(error))")
        }
        for t in AmbiguityType.allCases where entries[t.rawValue] == nil { throw ClarificationError("\(file.path): no template for \(t.rawValue)") }
    }

    public func entry(_ t: AmbiguityType) -> Entry { entries[t.rawValue]! }

    /// The template question for `type`, its subject taken from the task, its options from what the clusters did.
    public func question(_ type: AmbiguityType, subject: String, clusters: [ClusterSignature], probabilities: [Double]) -> RankedQuestion {
        let e = entry(type)
        let text = (try? MustacheTemplate(string: e.question).render(["subject": subject])) ?? e.question
        var byKey: [String: (p: Double, clusters: [Int])] = [:]
        for (i, sig) in clusters.enumerated() {
            let key = Self.key(sig[type.group])
            byKey[key, default: (0, [])].p += probabilities[i]
            byKey[key, default: (0, [])].clusters.append(i)
        }
        let options = byKey.sorted { ($0.value.p, $1.key) > ($1.value.p, $0.key) }.enumerated().map { n, kv in
            AnswerOption(label: n + 1, text: optionText(kv.key, entry: e, type: type), key: kv.key, probability: kv.value.p, clusters: kv.value.clusters)
        }
        return RankedQuestion(type: type, text: text, options: options, origin: "template", expectedEntropyDrop: 0, expectedAccuracyGain: 0)
    }

    /// A question for an ambiguity found in the task's words rather than the samples: the
    /// template's default options, equally likely, so an answer removes ln(k) nats of doubt.
    public func textQuestion(_ type: AmbiguityType, subject: String) -> RankedQuestion {
        let e = entry(type)
        let text = (try? MustacheTemplate(string: e.question).render(["subject": subject])) ?? e.question
        let k = Double(max(1, e.defaultOptions.count))
        let options = e.defaultOptions.enumerated().map {
            AnswerOption(label: $0.offset + 1, text: optionText($0.element, entry: e, type: type), key: $0.element, probability: 1 / k, clusters: [])
        }
        return RankedQuestion(type: type, text: text, options: options, origin: "template", expectedEntropyDrop: log(k), expectedAccuracyGain: 1 - 1 / k)
    }

    /// The catalogue question of `type` for `task`: the topic whose words the task uses most (the
    /// kind's first topic when none), about the task's own noun phrase, with that topic's choices
    /// equally likely. Its value is `weight` (the probability that this kind is what the task leaves
    /// open) times the entropy of the choices: the information an answer is expected to give.
    public func catalogueQuestion(_ type: AmbiguityType, task: String, subject: String, weight: Double) -> RankedQuestion? {
        let e = entry(type)
        let scored = e.catalogue.enumerated().map { n, t in (n, t, t.when.filter { Self.mentions(task, $0) }) }
        guard let best = scored.max(by: { ($0.2.count, -$0.0) < ($1.2.count, -$1.0) }), !best.1.options.isEmpty else { return nil }
        // The phrase whose head comes last: "online weather service" rather than "online".
        let noun = best.2.compactMap { Self.phrase(in: task, around: $0) }.max { $0.head < $1.head }?.text ?? best.1.noun
        let text = (try? MustacheTemplate(string: best.1.question).render(["subject": subject, "noun": noun])) ?? best.1.question
        let k = Double(best.1.options.count)
        let options = best.1.options.enumerated().map { AnswerOption(label: $0.offset + 1, text: $0.element, key: $0.element, probability: 1 / k, clusters: []) }
        return RankedQuestion(type: type, text: text, options: options, origin: "catalogue", expectedEntropyDrop: weight * log(k),
                              expectedAccuracyGain: weight * (1 - 1 / k))
    }

    /// Words that end a noun phrase when walking back from its head.
    static let phraseStops: Set<String> = ["a", "an", "the", "of", "to", "from", "in", "on", "with", "by", "for", "and", "or", "that", "which", "as",
                                           "into", "at", "is", "are", "be", "it", "its", "their", "each", "every", "write", "function", "module",
                                           "returns", "gets", "takes", "uses", "using", "calls", "reads", "sends", "posts", "stores", "keeps"]

    /// "the online weather service" for `service` in "... from an online weather service": the word
    /// holding `term` and up to two words before it that are not `phraseStops`; nil when absent.
    static func phrase(in task: String, around term: String) -> (text: String, head: Int)? {
        let words = task.split(whereSeparator: { $0.isWhitespace }).map { $0.trimmingCharacters(in: .punctuationCharacters) }
        guard let head = words.firstIndex(where: { mentions($0, term) }) else { return nil }
        // "PaymentGateway.charge(customer" names `PaymentGateway`.
        let headWord = String(words[head].prefix { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" })
        var lo = head
        // Verbs ("calling") and code end the phrase as stop words do.
        while lo > 0, head - lo < 2, let w = Optional(words[lo - 1]), !w.isEmpty, !phraseStops.contains(w.lowercased()), !w.hasSuffix("ing"),
              w.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" }) {
            lo -= 1
        }
        return ("the " + (words[lo..<head] + [headWord]).joined(separator: " "), head)
    }

    /// Aspects the task mentions without settling them, most mentioned first, with the words that matched.
    public func textSignal(_ task: String) -> [(type: AmbiguityType, hits: [String])] {
        var out: [(AmbiguityType, [String])] = []
        for t in AmbiguityType.allCases {
            let e = entry(t)
            let hits = e.aspect.filter { Self.mentions(task, $0) }
            if !hits.isEmpty, !e.specific.contains(where: { Self.mentions(task, $0) }) { out.append((t, hits)) }
        }
        // Most hits first; ties keep the template order, which is the order of AmbiguityType.
        return out.enumerated().sorted { ($0.element.1.count, -$0.offset) > ($1.element.1.count, -$1.offset) }.map { ($0.element.0, $0.element.1) }
    }

    /// For each labelled kind, 1 when the task mentions a word that selects one of its catalogue
    /// topics or names its aspect, else 0: the classifier's third group of inputs, weighed by
    /// the regression like the others (a learned weight, not a rule).
    public func selectingWords(_ task: String) -> [Float] {
        AmbiguityType.labelled.map { t in
            let e = entry(t)
            return (e.catalogue.flatMap(\.when) + e.aspect).contains { Self.mentions(task, $0) } ? 1 : 0
        }
    }

    /// Lowercase words match case-insensitively at a word start ("fail" in "failures");
    /// anything with capitals or punctuation must appear as written ("{:error", "Task.").
    static func mentions(_ text: String, _ term: String) -> Bool {
        if term.contains(where: { $0.isUppercase || (!$0.isLetter && $0 != " ") }) { return text.contains(term) }
        let lower = text.lowercased()
        var search = lower.startIndex..<lower.endIndex
        while let r = lower.range(of: term, range: search) {
            if r.lowerBound == lower.startIndex || !lower[lower.index(before: r.lowerBound)].isLetter { return true }
            search = r.upperBound..<lower.endIndex
        }
        return false
    }

    static func key(_ values: [String]) -> String { values.isEmpty ? "none" : values.sorted().joined(separator: "+") }

    func optionText(_ key: String, entry e: Entry, type: AmbiguityType) -> String {
        if type == .interface { return key == "none" ? "no public function" : key.split(separator: "+").map { "`\($0)`" }.joined(separator: " and ") }
        return key.split(separator: "+").map { e.options[String($0)] ?? String($0) }.joined(separator: " and ")
    }
}

/// Expected value of perfect information of a question over the clusters.
public enum EVPI {
    /// Scores `q` against cluster probabilities `p`: each option keeps only its clusters.
    public static func score(_ q: RankedQuestion, probabilities p: [Double]) -> (entropyDrop: Double, accuracyGain: Double) {
        let before = SemanticEntropy.entropy(p)
        var after = 0.0
        var accuracy = 0.0
        for o in q.options where o.probability > 0 {
            let inside = o.clusters.map { p[$0] }
            after += o.probability * SemanticEntropy.entropy(inside)
            accuracy += (inside.max() ?? 0)
        }
        return (max(0, before - after), max(0, accuracy - (p.max() ?? 0)))
    }

    /// Best first: entropy drop, then accuracy gain, then catalogue or template before model.
    public static func rank(_ qs: [RankedQuestion]) -> [RankedQuestion] {
        qs.sorted {
            ($0.expectedEntropyDrop, $0.expectedAccuracyGain, $0.origin != "model" ? 1 : 0) > ($1.expectedEntropyDrop, $1.expectedAccuracyGain, $1.origin != "model" ? 1 : 0)
        }
    }
}

/// Why clarification could not run.
public struct ClarificationError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ d: String) { description = d }
}
