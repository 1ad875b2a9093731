import ArgumentParser
import CommandLineOptions
import ElixirCoderApp
import ElixirCoderCore
import Engine
import Foundation
import Grammar
import Tokenizer

/// `elixir-coder complete`: a raw completion of a prompt on the embedded model.
struct CompleteCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "complete",
        abstract: "Continue a prompt with the embedded model (no chat template unless --chat).",
        discussion: "Streams the text to stdout; progress and a summary go to stderr. With --json, prints one JSON object with every token, its log-probability and alternatives."
    )

    @Argument(help: "The prompt, or - (the default) to read standard input byte for byte.") var prompt: String?
    @Flag(help: "Wrap the prompt as a user message in the model's chat template.") var chat = false
    @Flag(help: "Print one JSON object with the text and every token instead of streaming text.") var json = false
    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var samplingOptions: SamplingOptions
    @OptionGroup var grammarOptions: GrammarOptions

    struct TokenJSON: Encodable {
        let id: Int
        let text: String
        let logprob: Float
        let entropy: Float
        let top_logprobs: [Alternative]
    }

    struct Alternative: Encodable {
        let id: Int
        let text: String
        let logprob: Float
    }

    struct ResultJSON: Encodable {
        let text: String
        let finish_reason: String
        let prompt_tokens: Int
        let completion_tokens: Int
        let mean_logprob: Float
        let tokens: [TokenJSON]
        let timings: Timings
    }

    struct Timings: Encodable {
        let load_s: Double
        let prompt_s: Double
        let decode_tokens_per_s: Double
    }

    func run() async throws {
        let input = try readInput(prompt)
        let config = try Configuration.load()
        let sampling = try samplingOptions.parameters(config: config)
        let settings = modelOptions.settings(config: config)
        let loaded = try settings.load()
        let tokenizer = loaded.tokenizer
        var text = input
        if chat {
            guard let template = ChatTemplate(template: tokenizer.chatTemplate) else {
                throw ValidationError("this model's chat template is none we recognise (ChatML, Llama 3, Gemma, Phi-3, [INST]); run without --chat")
            }
            text = template.render([ChatMessage(role: "user", content: input)])
        }
        let ids = tokenizer.encode(text, parseSpecial: chat)
        guard !ids.isEmpty else { throw ValidationError("the prompt is empty") }
        let maxTokens = samplingOptions.maxTokens ?? config.maxTokens ?? 128
        let limit = loaded.model.config.contextLength
        guard ids.count < limit else { throw ValidationError("the prompt has \(ids.count) tokens; the model's context is \(limit)") }

        var request = GenerationRequest(prompt: ids, maxTokens: min(maxTokens, limit - ids.count), sampling: sampling, stop: samplingOptions.stop)
        let start = Date()
        var firstTokenAt: Date?
        let streaming = !json
        let result: GenerationResult
        if let url = settings.backendURL {
            // A server: the whole answer comes back at once (with its tokens and alternatives).
            let remote = try RemoteSpec(url: url, model: settings.backendModel, keyVariable: settings.apiKeyEnv)
            if let g = grammarOptions.grammar { request.gbnf = GBNFExporter.export(try EBNFGrammar(text: try GrammarStore.text(named: g))) }
            // The server's time is not split into prompt and decode: all of it counts as decode.
            firstTokenAt = start
            result = try await remote.instance(name: "backend", tokenizer: tokenizer).generate([request])[0]
            if streaming { writeOut(result.text) }
        } else {
            let generator = Generator(context: loaded.context(), tokenizer: tokenizer)
            generator.batch.speculation = loaded.settings.drafts ? PromptLookup() : nil
            let constraint = try grammarOptions.constraint(prompt: chat ? "" : input, tokenizer: tokenizer, maxTokens: request.maxTokens)
            result = generator.generate([request], processors: [constraint]) { _, _, delta in
                if firstTokenAt == nil { firstTokenAt = Date() }
                if streaming { writeOut(delta) }
                return .proceed
            }[0]
            constraint?.engine.persistMasks()
        }
        let end = Date()
        if result.finishReason == .invalidLogits {
            throw ValidationError("the model produced NaN or infinite logits after \(result.tokens.count) token(s); its weights are likely corrupt (\(settings.model ?? "the default model"))")
        }
        if streaming, !result.text.hasSuffix("\n") { writeOut("\n") }
        let promptSeconds = (firstTokenAt ?? end).timeIntervalSince(start)
        let decodeSeconds = end.timeIntervalSince(firstTokenAt ?? end)
        let tps = result.tokens.count > 1 ? Double(result.tokens.count - 1) / max(decodeSeconds, 1e-9) : 0
        Stderr.print(String(format: "%d prompt tokens in %.2f s, %d generated at %.1f tok/s, finished: %@",
                            ids.count, promptSeconds, result.tokens.count, tps, result.finishReason.rawValue))
        if json {
            let tokens = result.tokens.map { t in
                TokenJSON(id: t.id, text: tokenizer.piece(t.id), logprob: t.logprob, entropy: t.entropy,
                          top_logprobs: t.top.map { Alternative(id: $0.id, text: tokenizer.piece($0.id), logprob: $0.logprob) })
            }
            try printJSON(ResultJSON(text: result.text, finish_reason: result.finishReason.rawValue, prompt_tokens: ids.count,
                                     completion_tokens: result.tokens.count, mean_logprob: result.meanLogprob, tokens: tokens,
                                     timings: Timings(load_s: loaded.seconds, prompt_s: promptSeconds, decode_tokens_per_s: tps)))
        }
    }
}
