import ArgumentParser
import CommandLineOptions
import Telemetry

/// The `elixir-coder` command line: a thin layer over the libraries.
@main
struct ElixirCoder: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "elixir-coder",
        abstract: "Offline Elixir code generation on an embedded model.",
        version: BuildInfo.version,
        subcommands: [
            GenerateCommand.self,
            BatchCommand.self,
            ServeCommand.self,
            CompleteCommand.self,
            TokenizeCommand.self,
            ModelsCommand.self,
            CheckCommand.self,
            ClarifyCommand.self,
            ExplainCommand.self,
            IndexCommand.self,
            StatsCommand.self,
            GrammarCommand.self,
        ]
    )
}
