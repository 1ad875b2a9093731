import Engine
import Foundation
import GGUF
import Tokenizer

/// Paths the test suites share: the repository, the fixtures recorded from real tools and the model file.
public enum TestPaths {
    public static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    public static let fixtures = repo.appendingPathComponent("Tests/Fixtures")
    public static var model: String {
        if let p = ProcessInfo.processInfo.environment["ELIXIR_CODER_TEST_MODEL"] { return p }
        let home = ProcessInfo.processInfo.environment["ELIXIR_CODER_HOME"] ?? (NSHomeDirectory() + "/.cache/elixir-coder")
        return home + "/models/SmolLM2-135M-Instruct.Q4_1.gguf"
    }
}

/// One model, file and tokenizer per test process: loading them is the slow part.
public enum Shared {
    public static let gguf: GGUFFile = try! GGUFFile(path: TestPaths.model)
    public static let tokenizer: Tokenizer = try! Tokenizer(gguf: gguf)
    public static let model: LlamaModel = try! LlamaModel(file: gguf)
}

/// A review round's shape: the code is in the prompt and the answer rewrites it. With this
/// sampling the model copies enough of it that more than ten drafted tokens are accepted.
public enum CopyTask {
    public static let prompt: [Int] = Shared.tokenizer.encode(
        "<|im_start|>user\nRepeat this Elixir module exactly:\n```elixir\n"
            + "defmodule Totals do\n  @moduledoc \"Sums.\"\n\n  def sum(list) when is_list(list) do\n    Enum.reduce(list, 0, fn x, acc -> x + acc end)\n  end\nend\n"
            + "```<|im_end|>\n<|im_start|>assistant\n```elixir\ndefmodule Totals do\n", parseSpecial: true)
    public static var sampling: SamplingParameters {
        var s = SamplingParameters()
        s.temperature = 0.7
        s.seed = 11
        return s
    }
}

/// One entry of `golden.json` recorded from llama.cpp.
public struct GoldenEntry: Decodable, Sendable, CustomStringConvertible {
    public let prompt: String
    public let token_ids: [Int]
    public let greedy_continuation_ids: [Int]
    public var description: String { String(prompt.prefix(24)).debugDescription }
}

/// `golden.json`: llama.cpp's token ids and continuations for four prompts.
public struct Golden: Decodable, Sendable {
    public let model_sha256: String
    public let entries: [GoldenEntry]

    public static let loaded: Golden = {
        let data = try! Data(contentsOf: TestPaths.fixtures.appendingPathComponent("llama-cpp/golden.json"))
        return try! JSONDecoder().decode(Golden.self, from: data)
    }()
}
