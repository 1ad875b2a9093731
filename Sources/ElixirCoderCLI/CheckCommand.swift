import ArgumentParser

/// `elixir-coder check`: placeholder until the checks layer lands.
struct CheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "check", abstract: "Check Elixir code (not built yet).")
    func run() async throws { throw ValidationError("check is not built yet") }
}

/// `elixir-coder bench checks`: placeholder.
struct BenchChecksCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "checks", abstract: "Checker latency (not built yet).")
    func run() async throws { throw ValidationError("bench checks is not built yet") }
}
