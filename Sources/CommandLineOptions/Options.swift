import ArgumentParser
import Checks
import ElixirCoderApp
import ElixirCoderCore
import Engine
import Foundation
import GGUF
import Pipeline
import Serving
import Tokenizer

/// Which model to load, shared by every command that needs one.
public struct ModelOptions: ParsableArguments, Sendable {
    public init() {}

    @Option(name: .long, help: "A GGUF file or a known model name (default: the embedded SmolLM2-135M-Instruct; config key `model`, env ELIXIR_CODER_MODEL).")
    public var model: String?

    @Option(name: .long, help: "CPU threads for inference (default: all cores; config `threads`, env ELIXIR_CODER_THREADS).")
    public var threads: Int?

    @Option(help: "Generate with a model behind an OpenAI-compatible server at this URL (e.g. http://127.0.0.1:8080/v1) instead of the embedded one; the embedded model's tokenizer still builds the prompts (config `backendURL`, env ELIXIR_CODER_BACKEND_URL).")
    public var backend: String?
    @Option(help: "Model name to ask the backend for (config `backendModel`, env ELIXIR_CODER_BACKEND_MODEL).") public var backendModel: String?
    @Option(help: "Environment variable with the backend's API key (config `backendAPIKeyEnv`).") public var apiKeyEnv: String?

    @Option(help: "Kernel set: fast (float tiles for batches, the default) or exact (llama.cpp's x86 arithmetic op for op: its logits bit for bit, slower batches).")
    public var kernels: KernelChoice = .fast

    @Option(help: "Instruction set of the engine's kernels: auto (the CPU's best), avx512vnni, avx2 or portable; a lower one than the CPU's best reproduces that path here (config `instructionSet`, env ELIXIR_CODER_ISA).")
    public var isa: String?

    @Flag(help: "Decode without prompt-lookup drafts (config `drafts`, env ELIXIR_CODER_DRAFTS); drafts change speed, not what is sampled.")
    public var noDrafts = false

    /// These flags over the config file and the environment.
    public func settings(config: Configuration) -> ModelSettings {
        ModelSettings(config: config, model: model, threads: threads, backendURL: backend, backendModel: backendModel, apiKeyEnv: apiKeyEnv,
                      kernels: kernels.mode, instructionSet: isa, noDrafts: noDrafts)
    }
}

/// `--kernels` values.
public enum KernelChoice: String, ExpressibleByArgument, CaseIterable, Sendable {
    case fast, exact
    public var mode: KernelMode { self == .fast ? .fast : .exact }
}

/// Sampling flags; unset ones fall back to config, then to llama.cpp's defaults.
public struct SamplingOptions: ParsableArguments, Sendable {
    public init() {}

    @Option(help: "Tokens to generate at most.") public var maxTokens: Int?
    @Option(help: "Sampling temperature; 0 is greedy (default 0.8).") public var temperature: Float?
    @Option(help: "Keep the K most likely tokens; 0 disables (default 40).") public var topK: Int?
    @Option(help: "Nucleus sampling mass (default 0.95).") public var topP: Float?
    @Option(help: "Drop tokens below this fraction of the best one's probability (default 0.05).") public var minP: Float?
    @Option(help: "Penalty for recently repeated tokens; 1 disables.") public var repeatPenalty: Float?
    @Option(help: "Subtracted per earlier occurrence of a token.") public var frequencyPenalty: Float?
    @Option(help: "Subtracted once if a token occurred.") public var presencePenalty: Float?
    @Option(help: "Random seed (default 0): the same seed gives the same output.") public var seed: UInt64?
    @Option(help: "Stop before this text (repeatable).") public var stop: [String] = []
    @Option(help: "Report the K most likely alternatives for every token.") public var topLogprobs: Int = 0

    public func parameters(config: Configuration) throws -> SamplingParameters {
        var p = SamplingParameters()
        p.temperature = temperature ?? config.temperature ?? p.temperature
        p.topK = topK ?? config.topK ?? p.topK
        p.topP = topP ?? config.topP ?? p.topP
        p.minP = minP ?? config.minP ?? p.minP
        p.repetitionPenalty = repeatPenalty ?? p.repetitionPenalty
        p.frequencyPenalty = frequencyPenalty ?? p.frequencyPenalty
        p.presencePenalty = presencePenalty ?? p.presencePenalty
        p.seed = seed ?? config.seed ?? p.seed
        p.topLogprobs = topLogprobs
        guard p.temperature >= 0 else { throw ValidationError("--temperature must be 0 or more") }
        guard (0...1).contains(p.topP), (0...1).contains(p.minP) else { throw ValidationError("--top-p and --min-p must be between 0 and 1") }
        guard p.topK >= 0, p.topLogprobs >= 0 else { throw ValidationError("--top-k and --top-logprobs must be 0 or more") }
        return p
    }
}

/// Reads a positional argument, or all of standard input byte for byte for `-`.
public func readInput(_ arg: String?) throws -> String {
    guard let arg, arg != "-" else {
        let data = FileHandle.standardInput.readDataToEndOfFile()
        guard let s = String(data: data, encoding: .utf8) else { throw ValidationError("standard input is not valid UTF-8") }
        return s
    }
    return arg
}

/// Writes JSON to stdout, one document.
public func printJSON<T: Encodable>(_ value: T) throws {
    let enc = JSONEncoder()
    enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    FileHandle.standardOutput.write(try enc.encode(value) + Data("\n".utf8))
}

/// Writes text to stdout without buffering, for streaming.
public func writeOut(_ s: String) {
    FileHandle.standardOutput.write(Data(s.utf8))
}
