import Foundation
import GGUF
import Tokenizer
import Engine

/// Paths the tests share: the repository, the shared fixtures and the model file.
enum TestPaths {
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let fixtures = repo.deletingLastPathComponent().appendingPathComponent("shared/fixtures")
    static var model: String {
        if let p = ProcessInfo.processInfo.environment["ELIXIR_CODER_TEST_MODEL"] { return p }
        let home = ProcessInfo.processInfo.environment["ELIXIR_CODER_HOME"] ?? (NSHomeDirectory() + "/.cache/elixir-coder")
        return home + "/models/SmolLM2-135M-Instruct.Q4_1.gguf"
    }
}

/// One tokenizer for the whole suite: loading the vocabulary is the slow part.
enum Shared {
    static let gguf: GGUFFile = try! GGUFFile(path: TestPaths.model)
    static let tokenizer: Tokenizer = try! Tokenizer(gguf: gguf)
}

/// One entry of `golden.json` recorded from llama.cpp.
struct GoldenEntry: Decodable, Sendable, CustomStringConvertible {
    let prompt: String
    let token_ids: [Int]
    let greedy_continuation_ids: [Int]
    var description: String { String(prompt.prefix(24)).debugDescription }
}

struct Golden: Decodable {
    let model_sha256: String
    let entries: [GoldenEntry]

    static let loaded: Golden = {
        let data = try! Data(contentsOf: TestPaths.fixtures.appendingPathComponent("llama-cpp/golden.json"))
        return try! JSONDecoder().decode(Golden.self, from: data)
    }()
}

extension Shared {
    static let model: LlamaModel = try! LlamaModel(file: gguf)
}
