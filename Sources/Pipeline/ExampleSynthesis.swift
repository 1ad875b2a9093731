import Checks
import Foundation

/// Finds a task's function among small compositions of standard-library calls that give its
/// examples' values, before the model is asked.
///
/// Why: the default model rarely writes a function that works, while many tasks are one or two
/// library calls deep and their examples pin the behaviour down. A found program is still only
/// a candidate: it is compiled, checked and has its examples run like any other, and it is
/// returned only when that makes it an answer.
public protocol ExampleSynthesizer: Sendable {
    func synthesize(_ request: SynthesisRequest) async throws -> SynthesisResult
}

extension CompileWorker: ExampleSynthesizer {}

/// Turns a task's contract into a synthesis request, and found programs into candidate code.
public struct ExampleSynthesis: Sendable {
    public var task: String
    public var contract: TaskContract
    /// The module a new file defines (stub mode keeps the stub's file).
    public var module: String

    public init(task: String, contract: TaskContract, module: String) {
        self.task = task
        self.contract = contract
        self.module = module
    }

    /// Candidates ranked best first, at most this many are compiled and checked.
    public static let candidateLimit = 4

    /// The request, when the task names one function and has examples that call it.
    public func request(budget: Double) -> SynthesisRequest? {
        let evidence = Self.evidence(of: contract.examples)
        guard let function = target, !contract.examples.isEmpty, evidence != .insufficient else { return nil }
        // With one example the smallest program is often a coincidence: two sizes more show the
        // alternatives it must beat.
        var request = SynthesisRequest(function: function.name, parameters: parameters, examples: contract.examples,
                                       words: words, constants: constants, budget: budget, beyond: evidence == .decisive ? 1 : 2)
        request.options = contract.options.map { ($0.key, $0.defaultValue) }
        request.demands = demanded
        request.structure = contract.structure.map { (module, $0.keywords) }
        return request
    }

    /// The words of the task's prose, without code spans, calls and examples: `max_depth(list)`
    /// says what the function is called, not which library functions it uses.
    var words: [String] {
        let text = prose(withResults: true).joined(separator: "\n")
            .replacingOccurrences(of: #"`[^`]*`"#, with: " ", options: .regularExpression)
            .replacingOccurrences(of: #"[A-Za-z_][\w.]*[?!]?\("#, with: " ", options: .regularExpression)
        return Array(Set(text.lowercased().split { !$0.isLetter }.map(String.init).filter { $0.count >= 3 })).sorted()
    }

    /// The task's lines that are neither `iex>` examples nor the results printed under them;
    /// without lines that state a result (`f(x) == y`, "f(x) returns y") unless asked for.
    private func prose(withResults: Bool) -> [String] {
        var lines: [String] = []
        var afterPrompt = false
        for line in task.components(separatedBy: "\n") {
            let t = line.trimmingCharacters(in: .whitespaces)
            defer { afterPrompt = t.hasPrefix("iex>") || t.hasPrefix("...>") }
            if afterPrompt || t.hasPrefix("iex>") || t.hasPrefix("...>") { continue }
            // "f(x) returns y" states a result; "it returns the sum modulo 256" is prose.
            if !withResults, t.contains("==") || t.contains("#=>") || !TaskContract.examples(in: t, module: nil).isEmpty { continue }
            lines.append(t)
        }
        return lines
    }

    /// Modules and functions the task tells the code to use ("Use `MapSet`", "using
    /// `Keyword.validate/2`"); a helper of the user's file (`scale_row/2`) is not searched, so
    /// only capitalized names count.
    var demanded: [String] {
        TaskContract.matches(#"(?i:\buse|\busing)\s+(?:the\s+)?(?:existing\s+)?`([A-Z][A-Za-z0-9_.]*[A-Za-z0-9_?!])(?:/\d+)?`"#, task).map { $0[1] }
    }

    /// Whether the program calls everything the task tells it to use: a program that gives the
    /// examples without `MapSet` where the task asks for it is a coincidence or not what was asked.
    public func meetsDemands(_ program: SynthesizedProgram) -> Bool {
        demanded.allSatisfy { program.source.contains($0 + ".") || program.source.contains($0 + "(") }
    }

    /// The function to write: the stub's, or the one function the task names.
    var target: FunctionRef? {
        if let stub = contract.stub { return stub.function }
        return contract.functions.count == 1 ? contract.functions[0] : nil
    }

    /// The stub's parameter names, or those the task spells out; nil when neither gives plain names.
    var parameters: [String]? {
        if let stub = contract.stub {
            let line = stub.head.components(separatedBy: "\n").last ?? ""
            guard let open = line.firstIndex(of: "("), let close = line.lastIndex(of: ")"), open < close else { return [] }
            let names = line[line.index(after: open)..<close].split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            return names.allSatisfy(Self.isPlainName) ? names : nil
        }
        return contract.head?.parameters
    }

    private static func isPlainName(_ s: String) -> Bool {
        s.range(of: #"^[a-z_][a-z0-9_]*$"#, options: .regularExpression) != nil
    }

    /// Integers and short strings in the task's prose (not in its examples, whose results would
    /// otherwise be offered as answers).
    var constants: [String] {
        let text = prose(withResults: false).joined(separator: "\n")
        var found: [String] = []
        for pattern in [#"(?<![\w.])\d{1,5}(?!\w|\.\d)"#, #""[^"\\\n]{1,6}""#] {
            let regex = try! NSRegularExpression(pattern: pattern)
            for m in regex.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
                if let r = Range(m.range, in: text), !found.contains(String(text[r])) { found.append(String(text[r])) }
            }
        }
        return Array(found.prefix(8))
    }

    /// How much the examples alone say about a program.
    public enum ExampleEvidence: Sendable, Equatable {
        /// Two or more examples, not all yes-or-no: a program that gives them all is worth checking.
        case decisive
        /// One example: many small programs agree with it by chance (`lcm(4, 6) == 12` is also
        /// `b * 2`), so a program must also read every parameter and echo the task's words in
        /// its function names (two of them, or its only one). Or it is the one smallest program
        /// that reads every parameter and answers the probes in the examples' shape, and either
        /// the documentation of every function it calls echoes the task or the example's result
        /// is informative (see `SynthesisResult.informative`). With an informative result, of
        /// several smallest such programs the one with the fewest functions whose documentation
        /// does not echo the task also stands, if no other has as few (`filter(&(&1 != " "))`
        /// over `sort() |> tl()` for counting letters without spaces).
        case needsWords
        /// Yes-or-no answers without both a yes and a no among at least three: a random predicate
        /// agrees too often for any program to be trusted.
        case insufficient
    }

    /// What `examples` are worth as evidence.
    public static func evidence(of examples: [Example]) -> ExampleEvidence {
        let answers = examples.map { $0.expected.trimmingCharacters(in: .whitespacesAndNewlines) }
        if !answers.isEmpty, answers.allSatisfy({ $0 == "true" || $0 == "false" }) {
            return answers.count >= 3 && Set(answers).count == 2 ? .needsWords : .insufficient
        }
        return answers.count >= 2 ? .decisive : .needsWords
    }

    /// The programs worth checking, best first: reading every parameter, then handling the probe
    /// inputs as the examples, then smaller, then more of the task's words in their function
    /// names and their documentation, then fewer constants; the evidence decides which are kept.
    public static func ranked(_ programs: [SynthesizedProgram], evidence: ExampleEvidence, informative: Bool = false) -> [SynthesizedProgram] {
        let complete = programs.filter { $0.unused == 0 }
        // Those that answer the probes in the examples' shape; the one smallest of them may stand alone.
        let fewest = complete.map(\.partial).min()
        let sound = complete.filter { $0.partial == fewest }
        let smallest = sound.map(\.size).min()
        let alone = sound.filter { $0.size == smallest }.count == 1
        // With an informative result, of several smallest ones the one whose functions' documentation
        // leaves the fewest of them unexplained by the task may stand, if it alone does.
        let leastUndescribed = sound.filter { $0.size == smallest }.map(\.undescribed).min()
        let clearest = sound.filter { $0.size == smallest && $0.undescribed == leastUndescribed }.count == 1
        func key(_ p: SynthesizedProgram) -> (Int, Int, Double, Int, Int, String) {
            (p.unused, p.partial, Double(p.size) - 1.5 * Double(p.affinity), -p.described, p.literals, p.source)
        }
        return programs.filter {
            evidence == .decisive
                || (evidence == .needsWords && $0.unused == 0
                    && (namesTask($0) || (alone && $0.size == smallest && $0.partial == fewest && ($0.undescribed == 0 || informative))
                        || (informative && clearest && $0.size == smallest && $0.partial == fewest && $0.undescribed == leastUndescribed)))
        }.sorted { key($0) < key($1) }
    }

    /// Its function names share the task's words: two of them, or its only one.
    static func namesTask(_ program: SynthesizedProgram) -> Bool {
        program.affinity >= min(2, max(1, program.names))
    }

    /// The whole file with `body` (one or more lines) as the function's body.
    public func code(body: String, parameters: [String], unused: Int) -> String {
        if let stub = contract.stub {
            return stub.head + "\n" + Self.indent(body, by: stub.indent + "  ") + "\n" + stub.tail.trimmingCharacters(in: .newlines) + "\n"
        }
        var head = contract.head ?? FunctionHead(name: target?.name ?? "run", parameters: parameters)
        if head.parameters != parameters { head = FunctionHead(name: head.name, parameters: parameters) }
        // A parameter the body does not read gets a leading underscore, as the compiler asks.
        let unread = Set(parameters.filter { p in unused > 0 && body.range(of: #"\b\#(p)\b"#, options: .regularExpression) == nil })
        return Scaffold.moduleHead(module: module, task: task, structure: contract.structure)
            + "  def \(head.signature(unread: unread)) do\n" + Self.indent(body, by: "    ") + "\n  end\nend\n"
    }

    private static func indent(_ text: String, by prefix: String) -> String {
        text.components(separatedBy: "\n").map { $0.isEmpty ? $0 : prefix + $0 }.joined(separator: "\n")
    }
}
