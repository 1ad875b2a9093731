import ArgumentParser

/// `elixir-coder grammar`: placeholder until the constraint engine lands.
struct GrammarCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "grammar", abstract: "Grammar tools (not built yet).")
    func run() async throws { throw ValidationError("grammar is not built yet") }
}

/// `elixir-coder bench grammar`: placeholder.
struct BenchGrammarCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "grammar", abstract: "Constrained decoding figures (not built yet).")
    func run() async throws { throw ValidationError("bench grammar is not built yet") }
}
