import ArgumentParser
import CommandLineOptions
import Checks
import Clarification
import ElixirCoderApp
import ElixirCoderCore
import Engine
import Explain
import Foundation
import Grammar
import Pipeline
import RemoteServing
import Serving
import Telemetry

/// `elixir-coder generate`: a task in plain words to checked Elixir code.
struct GenerateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Generate Elixir code for a task: sample candidates, check, compile and run the task's examples, repair, return the best on evidence.",
        discussion: """
            The code goes to stdout; progress and a summary to stderr. The status says what the code rests on: verified (it compiled \
            without a warning, passed every check, and the task's examples or --tests passed), compiled (the same with nothing to run), \
            problems (the best candidate, with what is left) or abstained. Exit status 0 when verified or compiled, 3 for problems \
            (the best candidate is still printed), 4 when the confidence gate abstained (a request for clarification is printed instead of code).
            When --context holds a stub (`def f(a, b) do` with an empty or TODO body), only its body is written and the whole file is printed.
            Candidates are compiled, and examples run, only inside a sandbox (bubblewrap: no network, read-only files, time and memory limits).
            Every request is recorded in the inference log (see `elixir-coder stats`) and each run writes a run log (see --log-level).
            """
    )

    @Argument(help: "The task in plain words, or - to read it from standard input.") var task: String
    @Option(help: "A file of existing code the task refers to.") var context: String?
    @Option(help: "An ExUnit test file to run against every candidate that compiles (in a separate elixir process, with a timeout and no network); a failing test counts like a finding.") var tests: String?
    @Flag(help: "Do not run the examples of the task (iex> lines, f(x) == y) against candidates that compile.") var noRunExamples = false
    @Flag(help: "Do not search library compositions that give the task's examples before sampling.") var noSynthesize = false
    @Option(help: "Seconds after which no new round of candidates starts (default \(Int(GenerateOptions().timeBudget))).") var timeBudget: Double?
    @OptionGroup var budget: GenerateBudgetOptions
    @Option(help: "Sampling temperature (default 0.7; config `temperature`, env ELIXIR_CODER_TEMPERATURE).") var temperature: Float?
    @Flag(help: "Show candidates' text on stderr while they are sampled; repaired tokens are shown, then erased (with --json: JSON lines of token and rollback events on stderr).") var stream = false
    @Flag(help: "Wait for every candidate before choosing (by default, once more than half have finished and one is verified, or compiled with nothing to run, the rest are cancelled).") var allCandidates = false
    @Flag(help: "Do not let Elixir's parser vet sampled tokens (faster, far more syntax errors; see bench monitor).") var noMonitor = false
    @Flag(help: "Print the whole result as JSON.") var json = false
    @Flag(help: "First check whether the task is ambiguous (see `clarify`); if so ask the best question on the terminal (numbered options or free text), or print it and exit 4 when not on a terminal.") var clarify = false
    @Option(help: "Answer to the clarifying question, non-interactively (implies --clarify).") var answer: String?
    @Flag(help: "Explain what is left (problems that remain) or what was repaired, in Markdown on stderr (under \"explanations\" with --json).") var explain = false
    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var observability: ObservabilityOptions
    @OptionGroup var repairOptions: RepairOptions
    @OptionGroup var grammarOptions: PipelineGrammarOptions

    func run() async throws {
        var taskText = try readInput(task)
        let contextText = try context.map { path -> String in
            guard let s = try? String(contentsOfFile: path, encoding: .utf8) else { throw ValidationError("cannot read --context file \(path)") }
            return s
        }
        let setup = try GenerationSetup.make(modelOptions: modelOptions, observability: observability, grammarOptions: grammarOptions,
                                             contextFiles: context.map { [$0: contextText ?? ""] } ?? [:])
        defer { setup.close() }
        var options = try setup.options()
        budget.apply(to: &options)
        options.context = contextText
        if let temperature { options.sampling.temperature = temperature }
        options.monitor = !noMonitor
        options.earlyStop = !allCandidates
        options.repair = try repairOptions.policy(setup.config)
        if let tests {
            guard let t = try? String(contentsOfFile: tests, encoding: .utf8) else { throw ValidationError("cannot read --tests file \(tests)") }
            options.tests = t
        }
        options.runExamples = !noRunExamples
        options.timeBudget = timeBudget ?? options.timeBudget
        options.synthesize = !noSynthesize
        let start = Date()
        var clarifyTimings = PhaseTimings()
        if clarify || answer != nil {
            let s = Date()
            let folded = try await Self.clarifyFirst(task: taskText, answer: answer, setup: setup, json: json)
            clarifyTimings.add("clarify", Date().timeIntervalSince(s))
            guard let folded else { throw ExitCode(4) }
            taskText = folded
        }
        var live: (@Sendable (Int, Int, LiveDelta) -> Void)?
        if stream {
            let jsonLines = json
            live = { attempt, candidate, delta in
                if jsonLines {
                    let event: [String: Any] = switch delta {
                    case .text(let t): ["event": "token", "attempt": attempt, "candidate": candidate, "text": t]
                    case .rollback(let t): ["event": "rollback", "attempt": attempt, "candidate": candidate, "text": t]
                    }
                    if let d = try? JSONSerialization.data(withJSONObject: event, options: [.sortedKeys]) { FileHandle.standardError.write(d + Data("\n".utf8)) }
                } else {
                    FileHandle.standardError.write(Data(LiveDelta.terminalText(delta).utf8))
                }
            }
        }
        let report: @Sendable (String) -> Void = { Stderr.print($0) }
        let result = try await setup.generate(task: taskText, options: options, progress: report, onToken: live)
        var timingsExtra = clarifyTimings
        let seconds = Date().timeIntervalSince(start)
        var explanations: [Explanation] = []
        if explain, let explainer = try setup.explainer() {
            let s = Date()
            explanations = try await Self.explanations(of: result, explainer: explainer)
            timingsExtra.add("explain", Date().timeIntervalSince(s))
        } else if explain {
            Stderr.print("warning: --explain needs the retrieval index and the checker; skipped")
        }
        if json {
            try printJSON(GenerateOutput(result: result, explanations: explain ? explanations : nil))
        } else {
            writeOut(result.status == .abstained ? (result.clarification ?? "") + "\n" : result.code)
        }
        if let gate = result.gating { Stderr.print("gate: \(gate.decision.rawValue): \(gate.action)") }
        if !json, !explanations.isEmpty { Stderr.print("\n" + explanations.map(\.markdown).joined(separator: "\n---\n\n")) }
        // The shadow started only after the answer was out, so it never delays it.
        var timings = result.timings
        timings.merge(timingsExtra)
        if setup.observed.shadow != nil {
            Stderr.print("shadow: running \(setup.registry.shadowVersion ?? "") on the same task")
            let s = Date()
            for o in await setup.finishShadows() {
                Stderr.print("shadow: \(o.status.rawValue)" + (o.sameCluster.map { $0 ? ", same AST cluster" : ", different AST cluster" } ?? "")
                             + (o.logprobDiff.map { String(format: ", mean logprob diff %+.3f", $0) } ?? "") + (o.error.map { ": \($0)" } ?? ""))
            }
            timings.add("shadow", Date().timeIntervalSince(s))
        }
        if let path = setup.writeRunLog(command: "generate", started: start, results: [result], timings: timings) {
            Stderr.print("run log: \(path.path)")
        }
        let checked = result.attempts.reduce(0) { $0 + $1.candidates.count }
        Stderr.print(String(format: "%@ (%.1f s, %d candidate%@ checked)", result.summary, seconds, checked, checked == 1 ? "" : "s"))
        if result.status == .abstained { throw ExitCode(4) }
        if !result.status.isAnswer { throw ExitCode(3) }
    }

    /// Runs the detector; returns the task with the answer folded in, or nil when a question is pending and nobody can answer it here.
    static func clarifyFirst(task: String, answer: String?, setup: GenerationSetup, json: Bool) async throws -> String? {
        let analysis = try await setup.clarifier(ClarifySettings()).analyze(task: task, progress: { Stderr.print($0) })
        guard analysis.verdict == .ask, let q = analysis.questions.first else {
            Stderr.print("clarify: proceeding (\(analysis.reason))")
            return task
        }
        if let answer { return Clarifier.fold(task: task, question: q, answer: answer) }
        let prompt = q.text + "\n" + q.options.map { "  \($0.label)) \($0.text)" }.joined(separator: "\n")
        guard isatty(STDIN_FILENO) == 1 else {
            if json { try printJSON(analysis) } else { writeOut(prompt + "\n") }
            Stderr.print("clarify: the task is ambiguous (\(analysis.ambiguity?.rawValue ?? "?")); answer with --answer \"...\" (an option number or your own words)")
            return nil
        }
        Stderr.print(prompt)
        FileHandle.standardError.write(Data((q.options.isEmpty ? "your answer: " : "choose a number or type your own answer: ").utf8))
        guard let line = readLine(), !line.trimmingCharacters(in: .whitespaces).isEmpty else { return task }
        let folded = Clarifier.fold(task: task, question: q, answer: line)
        Stderr.print("clarify: answered: " + (folded.components(separatedBy: "Answer: ").last ?? line))
        return folded
    }

    /// What is left, or else what the repairs fixed (the first attempt's best candidate's problems).
    static func explanations(of r: GenerateResult, explainer: Explainer) async throws -> [Explanation] {
        if r.status == .problems {
            var out: [Explanation] = []
            for p in r.problems { out.append(try await explainer.explain(code: r.code, problem: p)) }
            return out
        }
        guard r.attempt > 1, let first = r.attempts.first?.candidates.filter({ !$0.problems.isEmpty }).min(by: { $0.isBetter(than: $1) }) else { return [] }
        var out: [Explanation] = []
        for p in first.problems { out.append(try await explainer.explain(code: first.code, problem: p)) }
        return out
    }

    /// `--json` output: the result, with explanations when asked for.
    struct GenerateOutput: Encodable {
        let result: GenerateResult
        let explanations: [Explanation]?

        func encode(to encoder: Encoder) throws {
            try result.encode(to: encoder)
            if let explanations {
                var c = encoder.container(keyedBy: Key.self)
                try c.encode(explanations, forKey: Key(stringValue: "explanations")!)
            }
        }

        struct Key: CodingKey {
            var stringValue: String
            var intValue: Int? { nil }
            init?(stringValue: String) { self.stringValue = stringValue }
            init?(intValue: Int) { nil }
        }
    }
}
