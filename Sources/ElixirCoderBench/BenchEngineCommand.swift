import ArgumentParser
import CommandLineOptions
import ElixirCoderApp
import ElixirCoderCore
import Engine
import Foundation
import GGUF
import Tokenizer

/// `elixir-coder-bench engine`: prompt, decode and batched-decode speed, beside llama.cpp's on the same CPU.
struct BenchEngineCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "engine",
        abstract: "Measure model load, prompt processing, decode and batched decode speed.",
        discussion: """
        With --llama-bench, llama.cpp's llama-bench runs on the same GGUF in the same run and each figure gets the ratio. \
        Without it, llama.cpp's recorded figures (shared/REFERENCE.md) are printed only when this CPU is of the class they \
        were measured on. --isa runs a lower instruction set's kernels (avx2 on an AVX-512 machine, say); --profile adds \
        where a decode step's time goes.
        """
    )

    @OptionGroup var modelOptions: ModelOptions
    @Option(help: "Tokens decoded per sequence in each measurement.") var decodeTokens = 64
    @Option(help: "Batch sizes for aggregate decode.") var batches: [Int] = [1, 2, 4, 8, 16]
    @Option(help: "Runs per figure; the best is reported.") var repeats = 3
    @Option(help: "Prompt tokens cached before each decode measurement (llama.cpp's figures used 128; a generate prompt is about 400).") var promptLength = 128
    @Option(help: "Of the prompt tokens, how many every sequence of a batch shares (cached once, as generate's few-shot prompt is).") var sharedPrefix = 0
    @Option(help: "Path of llama.cpp's llama-bench: run it on the same GGUF and threads in this run and compare.") var llamaBench: String?
    @Flag(help: "Time each stage of the forward pass for one sequence and a batch of eight.") var profile = false
    @Flag(help: "Print JSON.") var json = false

    struct Figure: Encodable {
        let name: String
        let value: Double
        let unit: String
        let llamaCpp: Double?
        var ratio: Double? { llamaCpp.map { value / $0 } }

        enum CodingKeys: String, CodingKey { case name, value, unit, llamaCpp = "llama_cpp", ratio }
        func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(name, forKey: .name)
            try c.encode(value, forKey: .value)
            try c.encode(unit, forKey: .unit)
            try c.encodeIfPresent(llamaCpp, forKey: .llamaCpp)
            try c.encodeIfPresent(ratio, forKey: .ratio)
        }
    }

    /// One stage's share of a profiled decode.
    struct StageTime: Encodable {
        let batch: Int
        let stage: String
        let millisecondsPerStep: Double
        let share: Double
    }

    /// What the JSON output holds.
    struct Report: Encodable {
        let cpu: String
        let features: [String]
        let instructionSet: String
        let hostInstructionSet: String
        let threads: Int
        let llamaCppSource: String
        let figures: [Figure]
        let profile: [StageTime]
    }

    func run() async throws {
        let config = try Configuration.load()
        let loaded = try modelOptions.settings(config: config).load(quiet: json)
        let cpu = CPUDescription.current()
        let threads = loaded.settings.threads
        let reference = try llamaBench.map { try LlamaCppFigures.measure(llamaBench: $0, model: loaded.path, threads: threads, quiet: json) }
            ?? LlamaCppFigures.recorded(for: .host, threads: threads)
        if !json {
            Stderr.print("cpu: \(cpu.model) [\(cpu.features.joined(separator: " "))]; kernels: \(loaded.instructionSet.rawValue) (this CPU's best: \(InstructionSet.host.rawValue))")
            Stderr.print("llama.cpp: \(reference.source)")
        }
        var figures: [Figure] = []
        // A second, timed load: the first one warmed the page cache as a user's second run would.
        let t0 = Date()
        _ = try LlamaModel(file: GGUFFile(path: loaded.path))
        figures.append(Figure(name: "model load", value: Date().timeIntervalSince(t0) * 1000, unit: "ms", llamaCpp: nil))

        let model = loaded.model
        let ctx = loaded.context()
        let text = String(repeating: "defmodule Math do\n  @moduledoc \"Arithmetic.\"\n  def add(a, b), do: a + b\n  def sub(a, b) when is_number(a), do: a - b\nend\n", count: 40)
        let corpus = loaded.tokenizer.encode(text)
        guard promptLength >= 1, promptLength < corpus.count - 64 else { throw ValidationError("--prompt-length must be from 1 to \(corpus.count - 65)") }
        guard sharedPrefix >= 0, sharedPrefix < promptLength else { throw ValidationError("--shared-prefix must be from 0 to --prompt-length minus 1") }

        for n in [64, 512] {
            var best = 0.0
            for _ in 0..<repeats {
                let seq = model.makeSequence()
                let t = Date()
                var i = 0
                while i < n {
                    let end = min(n, i + 64)
                    _ = ctx.forward((i..<end).map { BatchRow(sequence: seq, token: corpus[$0], position: $0, wantsLogits: $0 == n - 1) })
                    i = end
                }
                best = max(best, Double(n) / Date().timeIntervalSince(t))
            }
            figures.append(Figure(name: "prompt processing pp\(n)", value: best, unit: "tok/s", llamaCpp: n == 64 ? reference.pp64 : reference.pp512))
            if !json { Stderr.print("pp\(n): \(String(format: "%.1f", best)) tok/s") }
        }

        for b in batches {
            // Best of three: other processes on a shared 2-core machine only ever slow a run down.
            let tps = (0..<repeats).map { _ in decode(ctx: ctx, model: model, corpus: corpus, batch: b, steps: decodeTokens) }.max()!
            figures.append(Figure(name: b == 1 ? "decode, one sequence" : "aggregate decode, batch \(b)", value: tps, unit: "tok/s",
                                  llamaCpp: b == 1 ? reference.decode : reference.batches[b]))
            if !json { Stderr.print("batch \(b): \(String(format: "%.1f", tps)) tok/s") }
        }
        if threads > 1 {
            let single = loaded.context(threads: 1)
            let tps = (0..<repeats).map { _ in decode(ctx: single, model: model, corpus: corpus, batch: 1, steps: decodeTokens) }.max()!
            figures.append(Figure(name: "decode, one sequence, 1 thread", value: tps, unit: "tok/s", llamaCpp: reference.decodeOneThread))
            if !json { Stderr.print("1 thread: \(String(format: "%.1f", tps)) tok/s") }
        }
        var stages: [StageTime] = []
        if profile {
            for b in [1, 8] { stages += profiled(ctx: ctx, model: model, corpus: corpus, batch: b) }
        }
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        figures.append(Figure(name: "peak memory (RSS)", value: Double(usage.ru_maxrss) / 1024, unit: "MiB", llamaCpp: nil))

        if json {
            return try printJSON(Report(cpu: cpu.model, features: cpu.features, instructionSet: loaded.instructionSet.rawValue,
                                        hostInstructionSet: InstructionSet.host.rawValue, threads: threads, llamaCppSource: reference.source,
                                        figures: figures, profile: stages))
        }
        print("elixir-coder bench engine: \(URL(fileURLWithPath: loaded.path).lastPathComponent), \(threads) threads")
        print("cpu: \(cpu.model) [\(cpu.features.joined(separator: " "))]")
        print("kernels: \(loaded.instructionSet.rawValue) (this CPU's best: \(InstructionSet.host.rawValue))")
        print("llama.cpp: \(reference.source)")
        print(pad("figure", 34) + pad("ours", 14) + pad("llama.cpp", 12) + "ratio")
        for f in figures {
            let r = f.llamaCpp.map { String(format: "%.0f", $0) } ?? "-"
            let q = f.ratio.map { String(format: "%.2fx", $0) } ?? "-"
            print(pad(f.name, 34) + pad(String(format: "%.1f %@", f.value, f.unit), 14) + pad(r, 12) + q)
        }
        if !stages.isEmpty {
            print("\nwhere a decode step's time goes")
            print(pad("batch", 7) + pad("stage", 32) + pad("ms/step", 10) + "share")
            for s in stages {
                print(pad("\(s.batch)", 7) + pad(s.stage, 32) + pad(String(format: "%.3f", s.millisecondsPerStep), 10) + String(format: "%.1f%%", s.share * 100))
            }
        }
    }

    private func pad(_ s: String, _ n: Int) -> String { s.padding(toLength: n, withPad: " ", startingAt: 0) }

    /// Decode tokens/s summed over `batch` sequences, each after its own prompt (prefill not timed).
    private func decode(ctx: InferenceContext, model: LlamaModel, corpus: [Int], batch: Int, steps: Int) -> Double {
        var (seqs, last) = prefill(ctx: ctx, model: model, corpus: corpus, batch: batch)
        let vocab = model.config.vocabularySize
        let t = Date()
        for _ in 0..<steps {
            let out = ctx.forward(seqs.indices.map { BatchRow(sequence: seqs[$0], token: last[$0], position: seqs[$0].length, wantsLogits: true) })
            for j in 0..<batch { last[j] = argmax(out[(j * vocab)..<((j + 1) * vocab)]) }
        }
        seqs.removeAll()
        return Double(batch * steps) / Date().timeIntervalSince(t)
    }

    /// Each stage's time per decode step of `batch` sequences.
    private func profiled(ctx: InferenceContext, model: LlamaModel, corpus: [Int], batch: Int) -> [StageTime] {
        var (seqs, last) = prefill(ctx: ctx, model: model, corpus: corpus, batch: batch)
        let vocab = model.config.vocabularySize
        let profile = ForwardProfile()
        ctx.profile = profile
        defer { ctx.profile = nil }
        for _ in 0..<decodeTokens {
            let out = ctx.forward(seqs.indices.map { BatchRow(sequence: seqs[$0], token: last[$0], position: seqs[$0].length, wantsLogits: true) })
            for j in 0..<batch { last[j] = argmax(out[(j * vocab)..<((j + 1) * vocab)]) }
        }
        seqs.removeAll()
        return ForwardProfile.Stage.allCases.map {
            StageTime(batch: batch, stage: $0.rawValue, millisecondsPerStep: profile.seconds($0) * 1000 / Double(profile.passes),
                      share: profile.seconds($0) / profile.total)
        }
    }

    /// `batch` sequences, each with its own `promptLength`-token prompt (the first `sharedPrefix`
    /// tokens one cached sequence that every prompt continues), and each one's next token.
    private func prefill(ctx: InferenceContext, model: LlamaModel, corpus: [Int], batch: Int) -> ([KVSequence], [Int]) {
        var seqs: [KVSequence] = []
        var last: [Int] = []
        var root: KVSequence?
        if sharedPrefix > 0 {
            let r = model.makeSequence()
            _ = ctx.forward((0..<sharedPrefix).map { BatchRow(sequence: r, token: corpus[$0], position: $0, wantsLogits: false) })
            root = r
        }
        for s in 0..<batch {
            let seq = model.makeSequence(prefix: root, prefixLength: root == nil ? nil : sharedPrefix)
            let start = (s * 37) % (corpus.count - promptLength)
            var i = sharedPrefix
            var logits: [Float] = []
            while i < promptLength {
                let end = min(promptLength, i + 64)
                logits = Array(ctx.forward((i..<end).map { BatchRow(sequence: seq, token: corpus[start + $0], position: $0, wantsLogits: $0 == promptLength - 1) }))
                i = end
            }
            seqs.append(seq)
            last.append(argmax(logits[...]))
        }
        return (seqs, last)
    }

    private func argmax<C: Collection>(_ xs: C) -> Int where C.Element == Float, C.Index == Int {
        var best = xs.startIndex
        for i in xs.indices where xs[i] > xs[best] { best = i }
        return best - xs.startIndex
    }
}

/// llama.cpp's speed on the same GGUF: measured in this run, or recorded for this class of CPU.
struct LlamaCppFigures {
    var pp64: Double?
    var pp512: Double?
    var decode: Double?
    var decodeOneThread: Double?
    var batches: [Int: Double] = [:]
    /// Where the figures come from, printed beside them.
    var source: String

    /// shared/REFERENCE.md's figures (2 threads, llama.cpp 0c1e570, midpoints of the recorded
    /// ranges), only for the class of CPU they were measured on.
    static func recorded(for host: InstructionSet, threads: Int) -> LlamaCppFigures {
        guard threads == 2 else {
            return LlamaCppFigures(source: "no recorded figures for \(threads) threads (they are for 2); use --llama-bench to compare")
        }
        switch host {
        case .avx512vnni:
            return LlamaCppFigures(pp64: 297, pp512: 250, decode: 105, decodeOneThread: 66.5, batches: [2: 112, 4: 146, 8: 169, 16: 190],
                                   source: "recorded on an AMD EPYC with AVX-512 (REFERENCE.md), this CPU's class; not measured in this run")
        case .avx2:
            return LlamaCppFigures(pp64: 146, pp512: 139, decode: 79, decodeOneThread: 54,
                                   source: "recorded on an AMD EPYC with AVX2 and no AVX-512 (REFERENCE.md), this CPU's class; not measured in this run")
        case .portable:
            return LlamaCppFigures(source: "no recorded figures for a CPU without AVX2; use --llama-bench to compare")
        }
    }

    /// Runs `llama-bench` on `model`: pp64, pp512 and tg at `threads`, and tg at one thread.
    static func measure(llamaBench: String, model: String, threads: Int, quiet: Bool) throws -> LlamaCppFigures {
        guard FileManager.default.isExecutableFile(atPath: llamaBench) else {
            throw ValidationError("--llama-bench \(llamaBench): not an executable file")
        }
        if !quiet { Stderr.print("running llama-bench ...") }
        var figures = LlamaCppFigures(source: "\(llamaBench), measured in this run")
        let runs = [["-t", "\(threads)", "-p", "64,512", "-n", "128"], ["-t", "1", "-p", "0", "-n", "64"]]
        for arguments in runs {
            for result in try run(llamaBench, ["-m", model, "-r", "3", "-o", "json"] + arguments) {
                if result.nPrompt == 64 { figures.pp64 = result.averageTokensPerSecond }
                if result.nPrompt == 512 { figures.pp512 = result.averageTokensPerSecond }
                if result.nGen > 0 && result.threads == threads { figures.decode = result.averageTokensPerSecond }
                if result.nGen > 0 && result.threads == 1 && threads != 1 { figures.decodeOneThread = result.averageTokensPerSecond }
            }
        }
        return figures
    }

    /// One test of llama-bench's JSON output.
    struct Result: Decodable {
        let nPrompt: Int
        let nGen: Int
        let threads: Int
        let averageTokensPerSecond: Double
        enum CodingKeys: String, CodingKey { case nPrompt = "n_prompt", nGen = "n_gen", threads = "n_threads", averageTokensPerSecond = "avg_ts" }
    }

    private static func run(_ path: String, _ arguments: [String]) throws -> [Result] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw ValidationError("llama-bench \(arguments.joined(separator: " ")) exited with status \(process.terminationStatus)")
        }
        do { return try JSONDecoder().decode([Result].self, from: data) } catch {
            throw ValidationError("llama-bench printed no JSON results (\(error))")
        }
    }
}
