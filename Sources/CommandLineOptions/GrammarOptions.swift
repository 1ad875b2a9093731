import ArgumentParser
import ElixirCoderApp
import ElixirCoderCore
import Grammar
import Tokenizer

/// `--grammar` for commands that decode: loads the grammar bound to the model's vocabulary.
public struct GrammarOptions: ParsableArguments, Sendable {
    public init() {}

    @Option(help: "Constrain decoding with a grammar (`elixir`, or an .ebnf file); generation ends where the program is complete.")
    public var grammar: String?

    /// A constraint for a completion of `prompt`, or nil without `--grammar`.
    public func constraint(prompt: String, tokenizer: Tokenizer, maxTokens: Int) throws -> GrammarConstraint? {
        guard let grammar else { return nil }
        let engine = try Components.grammarEngine(grammar, tokenizer: tokenizer)
        do {
            return try GrammarConstraint(engine: engine, prefix: prompt, maxTokens: maxTokens)
        } catch let e as GrammarError {
            throw ValidationError("--grammar \(grammar): \(e.message)")
        }
    }
}

/// The grammar of the pipeline commands (generate, batch, serve): on by default for the embedded model.
public struct PipelineGrammarOptions: ParsableArguments, Sendable {
    public init() {}

    @Option(help: "The grammar candidates are sampled under: `elixir` (default), an .ebnf file, or `off` (config `grammar`, env ELIXIR_CODER_GRAMMAR). With --backend it is sent as GBNF (llama.cpp's `grammar` field) only when set.")
    public var grammar: String?
    @Flag(help: "Sample without the grammar (the parser monitor then vets every token; slower, more syntax errors).") public var noGrammar = false

    /// The grammar's name these flags choose over the config file and environment (nil: the default).
    public func chosen(config: Configuration) -> String? {
        noGrammar ? "off" : grammar ?? config.grammar
    }
}
