import ElixirCoderCore
import Engine
import Foundation
import GGUF
import Serving
import Tokenizer

/// Which model answers and how it runs, resolved once: flags over environment over config file over defaults.
public struct ModelSettings: Sendable, Equatable {
    /// A GGUF path or a known model name; nil is the embedded default.
    public var model: String?
    public var threads: Int
    /// An OpenAI-compatible server that generates instead of the embedded model.
    public var backendURL: String?
    public var backendModel: String?
    /// The environment variable that holds the server's API key.
    public var apiKeyEnv: String?
    public var kernels: KernelMode
    /// The instruction set to run: `auto` (the CPU's best), or a lower one by name; checked on load.
    public var instructionSet: String
    /// Whether small batches verify prompt-lookup drafts (speed only, never what is sampled).
    public var drafts: Bool

    /// Flag values (nil when not given) over `config`, which already holds the file and the environment.
    public init(config: Configuration, model: String? = nil, threads: Int? = nil, backendURL: String? = nil, backendModel: String? = nil,
                apiKeyEnv: String? = nil, kernels: KernelMode = .fast, instructionSet: String? = nil, noDrafts: Bool = false) {
        self.model = model ?? config.model
        self.threads = threads ?? config.threads ?? ProcessInfo.processInfo.activeProcessorCount
        self.backendURL = backendURL ?? config.backendURL
        self.backendModel = backendModel ?? config.backendModel
        self.apiKeyEnv = apiKeyEnv ?? config.backendAPIKeyEnv
        self.kernels = kernels
        self.instructionSet = instructionSet ?? config.instructionSet ?? "auto"
        self.drafts = !noDrafts && config.drafts != false
    }

    /// The same settings for another model file (a shadow), with its own thread count.
    public func with(model: String, threads: Int) -> ModelSettings {
        var s = self
        s.model = model
        s.threads = threads
        s.backendURL = nil
        return s
    }

    /// The model's tokenizer alone: a remote backend's prompts are still built with it, and the weights are not needed.
    public func tokenizer() throws -> Tokenizer {
        try Tokenizer(gguf: GGUFFile(path: ModelStore().resolve(model).path))
    }

    /// Reads the model file; progress goes to stderr unless `quiet`.
    public func load(quiet: Bool = false) throws -> LoadedModel {
        let isa = try InstructionSet.requested(instructionSet)
        let url = try ModelStore().resolve(model)
        let start = Date()
        if !quiet { Stderr.print("loading \(url.lastPathComponent) ...") }
        let file = try GGUFFile(path: url.path)
        let tokenizer = try Tokenizer(gguf: file)
        let model = try LlamaModel(file: file)
        let seconds = Date().timeIntervalSince(start)
        if !quiet {
            let c = model.config
            Stderr.print("loaded in \(String(format: "%.2f", seconds)) s: \(c.layerCount) layers, \(c.embeddingLength) wide, vocab \(c.vocabularySize), \(threads) threads, \(isa.rawValue) kernels")
        }
        return LoadedModel(model: model, tokenizer: tokenizer, path: url.path, seconds: seconds, settings: self, instructionSet: isa)
    }
}

/// A model file read into memory with its tokenizer and the settings it runs under.
public struct LoadedModel: Sendable {
    public let model: LlamaModel
    public let tokenizer: Tokenizer
    public let path: String
    public let seconds: Double
    public let settings: ModelSettings
    /// The instruction set `settings` asked for, checked against this CPU.
    public let instructionSet: InstructionSet

    /// The one place the product starts a model instance: a batching thread with these settings.
    public func instance(name: String) -> ModelInstance {
        var s = InstanceSettings(name: name)
        s.threads = settings.threads
        s.kernels = settings.kernels
        s.instructionSet = instructionSet
        s.drafts = settings.drafts ? PromptLookup() : nil
        return ModelInstance(model: model, tokenizer: tokenizer, settings: s)
    }

    /// A forward-pass context with these settings, for commands that drive the engine directly.
    public func context(threads: Int? = nil) -> InferenceContext {
        InferenceContext(model: model, threads: threads ?? settings.threads, kernels: settings.kernels, instructionSet: instructionSet)
    }
}
