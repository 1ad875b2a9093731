import Checks
import ElixirCoderCore
import Explain
import Foundation
import Grammar
import OpenAIBackend
import Pipeline
import RemoteServing
import Serving
import Tokenizer

/// An OpenAI-compatible server given by URL, model name and key variable.
public struct RemoteSpec: Sendable {
    public let configuration: OpenAIConfiguration
    public let version: String

    public static func isURL(_ s: String) -> Bool { s.hasPrefix("http://") || s.hasPrefix("https://") }

    public init(url: String, model: String?, keyVariable: String?) throws {
        guard Self.isURL(url), let u = URL(string: url) else { throw ConfigurationError(message: "backend '\(url)' is not an http:// or https:// URL") }
        configuration = OpenAIConfiguration(baseURL: u, model: model, apiKeyVariable: keyVariable)
        version = "remote:\(model ?? "default")@\(url)"
    }

    public func instance(name: String, tokenizer: Tokenizer) -> RemoteInstance {
        RemoteInstance(name: name, client: OpenAIClient(configuration: configuration), tokenizer: tokenizer)
    }
}

/// The model registry as configured: the active model and an optional shadow.
public struct ModelRegistry: Codable, Sendable {
    public var active: String
    public var activeVersion: String
    public var shadow: String?
    public var shadowVersion: String?
    /// A shadow is configured and is not the active model itself.
    public var shadowEnabled: Bool
    public var available: [String]

    public static func resolve(active spec: String?, shadow shadowSpec: String?, store: ModelStore = ModelStore()) throws -> (ModelRegistry, URL, URL?) {
        let activeURL = try store.resolve(spec)
        let shadowURL = try shadowSpec.map { try store.resolve($0) }
        let enabled = shadowURL.map { $0.standardizedFileURL.path != activeURL.standardizedFileURL.path } ?? false
        let registry = ModelRegistry(active: activeURL.path, activeVersion: try version(activeURL, store), shadow: shadowURL?.path,
                                     shadowVersion: try shadowURL.map { try version($0, store) }, shadowEnabled: enabled,
                                     available: store.list().map(\.path))
        return (registry, activeURL, enabled ? shadowURL : nil)
    }

    /// File name and the first 12 hex digits of its SHA-256.
    static func version(_ url: URL, _ store: ModelStore) throws -> String {
        "\(url.lastPathComponent)@\(try store.fingerprint(url).prefix(12))"
    }
}

/// Builds the parts every front end shares: backends, checkers, generators, the grammar and the index.
public enum Components {
    /// The model that answers under `settings`: a server when a backend URL is set, else the
    /// embedded model (`loaded`, read now when not given).
    public static func backend(_ settings: ModelSettings, name: String, loaded: LoadedModel? = nil, quiet: Bool = false) throws -> any InferenceBackend {
        if let url = settings.backendURL {
            let tokenizer = try loaded?.tokenizer ?? settings.tokenizer()
            return try RemoteSpec(url: url, model: settings.backendModel, keyVariable: settings.apiKeyEnv).instance(name: name, tokenizer: tokenizer)
        }
        return try (loaded ?? settings.load(quiet: quiet)).instance(name: name)
    }

    /// The checker pool, warm, and the sandboxed compile worker where this machine has a sandbox.
    public static func candidateChecker() throws -> ElixirCandidateChecker {
        let pool = try CheckerPool()
        pool.warmUp()
        let compiler: CompileWorker?
        do {
            compiler = try CompileWorker()
            compiler?.warmUp()
        } catch {
            Stderr.print("warning: \(error); candidates are checked but not compiled, so none can be called compiled or verified")
            compiler = nil
        }
        return ElixirCandidateChecker(pool: pool, compiler: compiler)
    }

    /// The generate-check-repair loop on `backend`.
    public static func codeGenerator(_ backend: any InferenceBackend) throws -> CodeGenerator {
        CodeGenerator(instance: backend, templates: try PromptTemplates(), checker: try candidateChecker())
    }

    /// Opens the knowledge index, building it on first use.
    public static func knowledgeIndex(paths: Paths = Paths(), quiet: Bool = false) throws -> KnowledgeIndex {
        try KnowledgeIndex(path: paths.cache.appendingPathComponent("index/knowledge.sqlite").path, sources: try KnowledgeSources.locate(paths: paths),
                           progress: { if !quiet { Stderr.print($0) } })
    }

    /// A grammar engine for the model's tokenizer, with the on-disk automata cache.
    public static func grammarEngine(_ grammar: String, tokenizer: Tokenizer, quiet: Bool = false) throws -> GrammarEngine {
        let text = try GrammarStore.text(named: grammar)
        let vocab = GrammarStore.vocabularyHash(tokenizer.tokenBytes)
        let store = GrammarStore()
        let loaded = try store.load(text: text, vocabularyHash: vocab)
        let engine = GrammarEngine(grammar: loaded.grammar, tokenBytes: tokenizer.tokenBytes, endTokens: Array(tokenizer.eosTokens).sorted())
        let masks = engine.loadMasks(from: store.maskFile(text: text, vocabularyHash: vocab))
        if !quiet { Stderr.print(String(format: "grammar %@: %@ in %.0f ms, %d token masks from earlier runs", grammar, loaded.source.rawValue, loaded.seconds * 1000, masks)) }
        return engine
    }

    /// The grammar candidates are sampled under, by name (`elixir`, an .ebnf file, `off`; nil is
    /// the default): a mask for the embedded model, GBNF for a server (only when named).
    public static func grammar(_ chosen: String?, tokenizer: Tokenizer, remote: Bool, quiet: Bool) throws -> (GrammarEngine?, String?) {
        if remote {
            guard let chosen, chosen != "off" else { return (nil, nil) }
            return (nil, GBNFExporter.export(try EBNFGrammar(text: try GrammarStore.text(named: chosen))))
        }
        let name = chosen ?? "elixir"
        guard name != "off" else { return (nil, nil) }
        return (try grammarEngine(name, tokenizer: tokenizer, quiet: quiet), nil)
    }
}
