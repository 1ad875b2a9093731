import ArgumentParser
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
            BenchCommand.self,
            GrammarCommand.self,
        ]
    )
}

/// `elixir-coder bench ...`: benchmarks that print figures.
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure speed and quality; prints figures.",
        subcommands: [BenchEngineCommand.self, BenchServeCommand.self, BenchMonitorCommand.self, BenchChecksCommand.self, BenchLogCommand.self, BenchExplainCommand.self, BenchClarifyCommand.self, BenchRepairCommand.self, BenchQualityCommand.self,
                      BenchGrammarCommand.self]
    )
}
