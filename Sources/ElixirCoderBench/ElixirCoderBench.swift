import ArgumentParser
import CommandLineOptions
import Telemetry

/// `elixir-coder-bench`: benchmarks that print figures, kept out of the product's command line.
@main
struct ElixirCoderBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "elixir-coder-bench",
        abstract: "Measure speed and quality of elixir-coder; prints figures.",
        version: BuildInfo.version,
        subcommands: [BenchEngineCommand.self, BenchServeCommand.self, BenchMonitorCommand.self, BenchChecksCommand.self, BenchLogCommand.self, BenchExplainCommand.self,
                      BenchClarifyCommand.self, BenchRepairCommand.self, BenchQualityCommand.self, BenchGrammarCommand.self, BenchReliabilityCommand.self, BenchLSPCommand.self]
    )
}
