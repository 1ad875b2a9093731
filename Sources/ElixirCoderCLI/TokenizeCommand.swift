import ArgumentParser
import CommandLineOptions
import ElixirCoderCore
import Foundation
import GGUF
import Tokenizer

/// `elixir-coder tokenize`: token ids and pieces for a text.
struct TokenizeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "tokenize", abstract: "Show the model's token ids and pieces for a text.")

    @Argument(help: "The text, or - to read standard input byte for byte.") var text: String
    @Flag(help: "Recognise control tokens such as <|im_start|> in the text.") var special = false
    @Flag(help: "Print JSON.") var json = false
    @Option(name: .long, help: "A GGUF file or a known model name.") var model: String?

    struct Token: Encodable {
        let id: Int
        let piece: String
    }

    func run() async throws {
        let input = try readInput(text)
        let config = try Configuration.load()
        let url = try ModelStore().resolve(model ?? config.model)
        let tokenizer = try Tokenizer(gguf: GGUFFile(path: url.path))
        let ids = tokenizer.encode(input, parseSpecial: special)
        let tokens = ids.map { Token(id: $0, piece: tokenizer.piece($0)) }
        if json { return try printJSON(tokens) }
        for t in tokens { print("\(t.id)\t\(t.piece.debugDescription)") }
        Stderr.print("\(ids.count) tokens")
    }
}
