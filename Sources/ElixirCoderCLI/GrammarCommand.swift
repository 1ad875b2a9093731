import ArgumentParser
import ElixirCoderCore
import Foundation
import Grammar
import Tokenizer

/// `elixir-coder grammar ...`: the decoding grammar and its exports.
struct GrammarCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "grammar",
        abstract: "Show, export and compile the grammar that constrains decoding.",
        subcommands: [GrammarExportCommand.self, GrammarCompileCommand.self]
    )
}

/// `elixir-coder grammar export`: the grammar as GBNF (llama.cpp) or as its EBNF source.
struct GrammarExportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Print the grammar as GBNF (for llama.cpp's `grammar` field) or EBNF.",
        discussion: "GBNF has no longest-match or keyword priorities, so the export accepts a superset of what the embedded constraint accepts."
    )

    enum Format: String, ExpressibleByArgument, CaseIterable { case gbnf, ebnf }

    @Option(help: "gbnf or ebnf.") var format: Format = .gbnf
    @Option(help: "A grammar name (in grammars/) or an .ebnf file.") var grammar = "elixir"

    func run() async throws {
        let text = try GrammarStore.text(named: grammar)
        switch format {
        case .ebnf: writeOut(text.hasSuffix("\n") ? text : text + "\n")
        case .gbnf: writeOut(GBNFExporter.export(try EBNFGrammar(text: text)))
        }
    }
}

/// `elixir-coder grammar compile`: compile (or load from the cache) and print the automata's size.
struct GrammarCompileCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compile",
        abstract: "Compile the grammar to automata (cached on disk) and print their size and the time taken."
    )

    @Option(help: "A grammar name (in grammars/) or an .ebnf file.") var grammar = "elixir"

    func run() async throws {
        let text = try GrammarStore.text(named: grammar)
        let start = Date()
        let g = try GrammarCompiler.compile(text)
        let cold = Date().timeIntervalSince(start)
        print(String(format: "compiled in %.0f ms: %d terminals, %d parser states in %d machines, %d lexer states",
                     cold * 1000, g.terminalCount, g.stateCount, g.machineNames.count, g.lexStateCount))
        print("scopes: " + g.machineNames.dropFirst().joined(separator: ", "))
    }
}

/// `--grammar` for commands that decode: loads the grammar bound to the model's vocabulary.
struct GrammarOptions: ParsableArguments {
    @Option(help: "Constrain decoding with a grammar (`elixir`, or an .ebnf file); generation ends where the program is complete.")
    var grammar: String?

    /// A constraint for a completion of `prompt`, or nil without `--grammar`.
    func constraint(prompt: String, tokenizer: Tokenizer, maxTokens: Int) throws -> GrammarConstraint? {
        guard let grammar else { return nil }
        let engine = try GrammarSetup.engine(grammar: grammar, tokenizer: tokenizer)
        do {
            return try GrammarConstraint(engine: engine, prefix: prompt, maxTokens: maxTokens)
        } catch let e as GrammarError {
            throw ValidationError("--grammar \(grammar): \(e.message)")
        }
    }
}

/// Loading a grammar engine for the model's tokenizer, with the on-disk automata cache.
enum GrammarSetup {
    static func engine(grammar: String, tokenizer: Tokenizer, quiet: Bool = false) throws -> GrammarEngine {
        let text = try GrammarStore.text(named: grammar)
        let vocab = GrammarStore.vocabularyHash(tokenizer.tokenBytes)
        let loaded = try GrammarStore().load(text: text, vocabularyHash: vocab)
        if !quiet { Stderr.print(String(format: "grammar %@: %@ in %.0f ms", grammar, loaded.source.rawValue, loaded.seconds * 1000)) }
        return GrammarEngine(grammar: loaded.grammar, tokenBytes: tokenizer.tokenBytes, endTokens: Array(tokenizer.eosTokens).sorted())
    }
}
