import ArgumentParser
import CommandLineOptions
import ElixirCoderApp
import ElixirCoderCore
import Foundation
import Grammar
import Tokenizer

/// `elixir-coder grammar ...`: the decoding grammar and its exports.
struct GrammarCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "grammar",
        abstract: "Show, export and compile the grammar that constrains decoding.",
        subcommands: [GrammarExportCommand.self, GrammarCompileCommand.self, GrammarCheckCommand.self]
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

/// `elixir-coder grammar check`: where a text stands in the grammar (complete, open, or rejected at a byte).
struct GrammarCheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Tell whether texts are complete programs, valid but open, or leave the grammar (and where).",
        discussion: "Each argument is a text (or `-` for standard input, read whole). Exit 1 when any text leaves the grammar."
    )

    @Option(help: "A grammar name (in grammars/) or an .ebnf file.") var grammar = "elixir"
    @Flag(help: "One JSON object per text.") var json = false
    @Flag(help: "For open texts, also print the shortest text that closes them (what budget-aware closing writes).") var closing = false
    @Argument(help: "Texts to check, or - for standard input.") var texts: [String]

    struct CheckVerdict: Encodable {
        let text: String
        let verdict: String
        let acceptedBytes: Int
        let closing: String?
    }

    func run() async throws {
        // No vocabulary: the automata alone, from the same on-disk cache as decoding uses.
        let g = try GrammarStore().load(text: try GrammarStore.text(named: grammar), vocabularyHash: "").grammar
        let engine = GrammarEngine(grammar: g, tokenBytes: [], endTokens: [])
        var rejected = false
        for t in texts {
            let text = t == "-" ? String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self) : t
            let bytes = Array(text.utf8)
            var state = GrammarState(g)
            let accepted = state.acceptedPrefix(bytes, g)
            let verdict: String
            if accepted < bytes.count {
                rejected = true
                verdict = "rejected"
            } else {
                state.feed(bytes, g)
                verdict = state.canEnd(g) ? "complete" : "open"
            }
            let closingText = closing && verdict == "open" ? engine.closingText(from: state).map { String(decoding: $0, as: UTF8.self) } ?? "(none found)" : nil
            if json {
                try printJSON(CheckVerdict(text: text, verdict: verdict, acceptedBytes: accepted, closing: closingText))
            } else {
                let at = verdict == "rejected" ? " at byte \(accepted): \(String(decoding: bytes[accepted...].prefix(16), as: UTF8.self).debugDescription)" : ""
                print("\(verdict)\(at)  \(text.debugDescription)" + (closingText.map { "  closing: \($0.debugDescription)" } ?? ""))
            }
        }
        if rejected { throw ExitCode(1) }
    }
}

