import ArgumentParser
struct CompleteCommand: AsyncParsableCommand { static let configuration = CommandConfiguration(commandName: "complete") }
struct TokenizeCommand: AsyncParsableCommand { static let configuration = CommandConfiguration(commandName: "tokenize") }
struct ModelsCommand: AsyncParsableCommand { static let configuration = CommandConfiguration(commandName: "models") }
struct BenchEngineCommand: AsyncParsableCommand { static let configuration = CommandConfiguration(commandName: "engine") }
