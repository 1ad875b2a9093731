// swift-tools-version: 6.0
import PackageDescription
import Foundation

// Release builds pass a CPU target so SIMD code compiles to FMA/AVX instead of
// library calls (see the SIMD notes in STYLE.md). `make` sets ELIXIR_CODER_CPU
// from the host CPU; a plain `swift build` leaves it unset and still works.
let cpu = ProcessInfo.processInfo.environment["ELIXIR_CODER_CPU"].flatMap { $0.isEmpty ? nil : $0 }
let cpuFlags: [SwiftSetting] = cpu.map {
    [.unsafeFlags(["-Xcc", "-march=\($0)", "-target-cpu", $0, "-Ounchecked"], .when(configuration: .release))]
} ?? []

let package = Package(
    name: "ElixirCoder",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "elixir-coder", targets: ["ElixirCoderCLI"]),
        .executable(name: "elixir-coder-bench", targets: ["ElixirCoderBench"]),
        .library(name: "Engine", targets: ["Engine"]),
        .library(name: "Tokenizer", targets: ["Tokenizer"]),
        .library(name: "GGUF", targets: ["GGUF"]),
        .library(name: "OpenAIBackend", targets: ["OpenAIBackend"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.1.1"),
        // Tests only: a real Markdown parser to check the explanations' structure.
        .package(url: "https://github.com/JohnSundell/Ink", from: "0.6.0"),
    ],
    targets: [
        .target(name: "ElixirCoderCore"),
        .target(name: "GGUF"),
        .target(name: "Tokenizer", dependencies: ["GGUF"], swiftSettings: cpuFlags),
        // AVX-512 VNNI dot products, which Swift cannot spell (see DotPanels.c).
        .target(name: "CKernels", path: "Sources/CKernels", cSettings: [.unsafeFlags(["-O3"])]),
        .target(name: "Engine", dependencies: ["GGUF", "Tokenizer", "CKernels", .product(name: "Logging", package: "swift-log")], swiftSettings: cpuFlags),
        .target(name: "Serving", dependencies: ["Engine", "Tokenizer"], swiftSettings: cpuFlags),
        .target(
            name: "Pipeline",
            dependencies: ["Engine", "Tokenizer", "Serving", "Checks", "ElixirCoderCore", "Telemetry", "Grammar", .product(name: "Mustache", package: "swift-mustache")]
        ),
        .target(name: "Grammar", dependencies: ["ElixirCoderCore", "Engine", "Tokenizer"], swiftSettings: cpuFlags),
        .target(name: "RPC"),
        .target(name: "Clarification", dependencies: ["Pipeline", "Checks", "Serving", "Engine", "Tokenizer", "ElixirCoderCore", .product(name: "Mustache", package: "swift-mustache")]),
        .target(name: "Explain", dependencies: ["Pipeline", "Checks", "Serving", "Engine", "Tokenizer", "ElixirCoderCore", "SQLiteStore"]),
        .systemLibrary(name: "CSQLite", path: "Sources/CSQLite"),
        .systemLibrary(name: "CZlib", path: "Sources/CZlib"),
        .target(name: "SQLiteStore", dependencies: ["CSQLite"]),
        .target(name: "Telemetry", dependencies: ["Engine", "SQLiteStore", "CZlib"]),
        .target(name: "Checks", dependencies: [.product(name: "Logging", package: "swift-log")], resources: [.copy("Resources")]),
        .target(name: "OpenAIBackend", dependencies: [.product(name: "Logging", package: "swift-log")]),
        .target(name: "RemoteServing", dependencies: ["OpenAIBackend", "Serving", "Engine", "Tokenizer"]),
        // The HTTP server: the OpenAI API, ElixirCoder's own API over the application layer, and the audit panel.
        .target(name: "OpenAIServer", dependencies: ["OpenAIBackend", "Serving", "Engine", "Tokenizer", "ElixirCoderApp", "RPC", .product(name: "Logging", package: "swift-log")],
                resources: [.copy("Resources")]),
        // The application layer: settings resolved once and the parts every front end shares.
        .target(
            name: "ElixirCoderApp",
            dependencies: ["ElixirCoderCore", "GGUF", "Engine", "Tokenizer", "Serving", "RemoteServing", "OpenAIBackend", "Pipeline", "Checks",
                           "Telemetry", "Explain", "Clarification", "Grammar", "RPC"]
        ),
        // The language server on `serve --stdio`: documents, diagnostics, hovers, code actions.
        .target(name: "LanguageServer", dependencies: ["RPC", "Checks", "Pipeline", "Explain", "Clarification", "ElixirCoderApp", "ElixirCoderCore"]),
        // Flags shared by the two executables: they parse, the application layer resolves.
        .target(
            name: "CommandLineOptions",
            dependencies: ["ElixirCoderApp", "ElixirCoderCore", "Clarification", "Engine", "Grammar", "Pipeline", "Telemetry", "Tokenizer",
                           .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .executableTarget(
            name: "ElixirCoderCLI",
            dependencies: [
                "CommandLineOptions", "ElixirCoderApp", "ElixirCoderCore", "GGUF", "Engine", "Tokenizer", "Serving", "Pipeline", "RPC", "Checks", "Telemetry", "SQLiteStore", "Explain", "Clarification", "RemoteServing", "Grammar",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                "OpenAIServer", "LanguageServer",
            ],
            swiftSettings: cpuFlags
        ),
        // The benchmarks, apart from the product's command line.
        .executableTarget(
            name: "ElixirCoderBench",
            dependencies: [
                "CommandLineOptions", "ElixirCoderApp", "ElixirCoderCore", "GGUF", "Engine", "Tokenizer", "Serving", "Pipeline", "Checks", "Telemetry", "SQLiteStore", "Explain", "Clarification", "Grammar",
                "LanguageServer", "RPC",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: cpuFlags
        ),
        // Shared by the test targets only: fixture paths and the one loaded model.
        .target(name: "TestSupport", dependencies: ["GGUF", "Tokenizer", "Engine"], path: "Sources/TestSupport"),
        .testTarget(name: "EngineTests", dependencies: ["TestSupport", "GGUF", "Engine", "Tokenizer"]),
        .testTarget(name: "TokenizerTests", dependencies: ["TestSupport", "GGUF", "Tokenizer"]),
        .testTarget(name: "ChecksTests", dependencies: ["Checks"]),
        .testTarget(name: "ServingTests", dependencies: ["TestSupport", "Serving", "Engine", "Tokenizer", "GGUF"]),
        .testTarget(name: "PipelineTests", dependencies: ["TestSupport", "Pipeline", "Checks", "Serving", "Engine", "Tokenizer", "GGUF", "Telemetry", "SQLiteStore", "Grammar"]),
        .testTarget(name: "RPCTests", dependencies: ["RPC"]),
        .testTarget(name: "LanguageServerTests", dependencies: ["LanguageServer", "RPC", "Checks"]),
        .testTarget(name: "OpenAIBackendTests", dependencies: ["Checks", "RemoteServing", "OpenAIBackend", "OpenAIServer", "TestSupport", "Serving", "Engine", "Tokenizer", .product(name: "Logging", package: "swift-log")]),
        .testTarget(name: "CoreTests", dependencies: ["ElixirCoderCore"]),
        .testTarget(name: "AppTests", dependencies: ["ElixirCoderApp", "ElixirCoderCore", "Pipeline", "Engine", "Telemetry"]),
        .testTarget(name: "ExplainTests", dependencies: ["TestSupport", "Explain", "Pipeline", "Checks", "Serving", "Engine", .product(name: "Ink", package: "Ink")]),
        .testTarget(name: "ClarificationTests", dependencies: ["TestSupport", "Clarification", "Pipeline", "Checks", "Serving"]),
        .testTarget(name: "TelemetryTests", dependencies: ["Telemetry", "SQLiteStore", "Engine"]),
        .testTarget(name: "CLITests", dependencies: ["Telemetry"]),
        .testTarget(name: "GrammarTests", dependencies: ["TestSupport", "Grammar", "Engine", "Tokenizer", "Checks"]),
    ]
)
