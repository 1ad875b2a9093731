import Engine
import Foundation
import OpenAIBackend
import Serving
import Tokenizer

/// A completion request, validated and tokenized.
struct Job: Sendable {
    var chat: Bool
    var request: GenerationRequest
    var stream: Bool
    var includeUsage: Bool
    /// Alternatives per token; nil when the request asked for no log-probabilities.
    var logprobs: Int?

    /// Reads an OpenAI request body.
    /// - Throws: `BadRequest` naming the field at fault.
    static func parse(_ body: Data, chat: Bool, routes: Routes) throws(BadRequest) -> Job {
        let root: JSONNode
        do { root = try JSONNode.parse(body) } catch {
            throw BadRequest(body.isEmpty ? "the request has no body; send a JSON object" : "the request body is not valid JSON")
        }
        guard root.value is [String: Any] else { throw BadRequest("the request body must be a JSON object, not \(root.kind)") }
        do {
            return try parse(root, chat: chat, routes: routes)
        } catch let e as BadRequest {
            throw e
        } catch let e as JSONShapeError {
            throw BadRequest(e.description, param: e.path)
        } catch {
            throw BadRequest("\(error)")
        }
    }

    private static func parse(_ root: JSONNode, chat: Bool, routes: Routes) throws -> Job {
        let tokenizer = routes.instance.tokenizer
        for unsupported in ["grammar", "json_schema", "tools", "functions"] where !root[unsupported].isNull {
            throw BadRequest("\(unsupported) is not supported by this server (the embedded engine has no grammar or tool support)", param: unsupported)
        }
        if let n = try root["n"].optionalInt(), n != 1 { throw BadRequest("n must be 1: this server returns one choice", param: "n") }
        if try root["echo"].optionalBool() == true { throw BadRequest("echo is not supported", param: "echo") }
        if let format = try root["response_format"]["type"].optionalString(), format != "text" {
            throw BadRequest("response_format \(format) is not supported; only text", param: "response_format")
        }

        let prompt: [Int]
        if chat {
            guard let template = routes.template else {
                throw BadRequest("this model's chat template is none we recognise (ChatML, Llama 3, Gemma, Phi-3, [INST]); use /v1/completions", param: "messages")
            }
            let messages = try root["messages"].array()
            guard !messages.isEmpty else { throw BadRequest("messages is empty; send at least one message", param: "messages") }
            let rendered = try messages.map { m in ChatMessage(role: try m["role"].string(), content: try content(m["content"])) }
            prompt = tokenizer.encode(template.render(rendered), parseSpecial: true)
        } else {
            prompt = try promptTokens(root["prompt"], tokenizer: tokenizer)
        }
        guard !prompt.isEmpty else { throw BadRequest("the prompt is empty", param: chat ? "messages" : "prompt") }
        let context = routes.instance.model.config.contextLength
        guard prompt.count < context else {
            throw BadRequest("the prompt has \(prompt.count) tokens; the model's context is \(context)", param: chat ? "messages" : "prompt", code: "context_length_exceeded")
        }

        var s = routes.settings.defaultSampling
        s.temperature = try Float(number(root["temperature"], in: 0...2) ?? Double(s.temperature))
        s.topP = try Float(number(root["top_p"], in: 0...1) ?? Double(s.topP))
        s.minP = try Float(number(root["min_p"], in: 0...1) ?? Double(s.minP))
        if let k = try root["top_k"].optionalInt() {
            guard k >= 0 else { throw BadRequest("top_k must be 0 or more", param: "top_k") }
            s.topK = k
        }
        s.frequencyPenalty = try Float(number(root["frequency_penalty"], in: -2...2) ?? Double(s.frequencyPenalty))
        s.presencePenalty = try Float(number(root["presence_penalty"], in: -2...2) ?? Double(s.presencePenalty))
        s.repetitionPenalty = try Float(number(root["repeat_penalty"], in: 0...10) ?? Double(s.repetitionPenalty))
        if let seed = try root["seed"].optionalInt() {
            // llama.cpp's convention: -1 asks for a random seed.
            guard seed >= -1 else { throw BadRequest("seed must be 0 or more (or -1 for a random one)", param: "seed") }
            s.seed = seed == -1 ? UInt64.random(in: 0...UInt64.max) : UInt64(seed)
        }

        var logprobs: Int?
        if chat {
            if try root["logprobs"].optionalBool() == true {
                logprobs = try root["top_logprobs"].optionalInt() ?? 0
            }
            if let k = logprobs, !(0...20).contains(k) { throw BadRequest("top_logprobs must be between 0 and 20", param: "top_logprobs") }
        } else if let k = try root["logprobs"].optionalInt() {
            guard (0...20).contains(k) else { throw BadRequest("logprobs must be between 0 and 20", param: "logprobs") }
            logprobs = k
        }
        s.topLogprobs = logprobs ?? 0

        var maxTokens = routes.settings.defaultMaxTokens
        let maxField = chat && !root["max_completion_tokens"].isNull ? "max_completion_tokens" : "max_tokens"
        if let m = try root[maxField].optionalInt() {
            guard m >= 1 else { throw BadRequest("\(maxField) must be 1 or more", param: maxField) }
            maxTokens = m
        }
        maxTokens = min(maxTokens, context - prompt.count)

        var stop: [String] = []
        if let one = root["stop"].value as? String {
            stop = [one]
        } else if let many = try root["stop"].optionalArray() {
            stop = try many.map { try $0.string() }
        }

        let stream = try root["stream"].optionalBool() ?? false
        let includeUsage = try root["stream_options"]["include_usage"].optionalBool() ?? false
        return Job(chat: chat, request: GenerationRequest(prompt: prompt, maxTokens: maxTokens, sampling: s, stop: stop),
                   stream: stream, includeUsage: includeUsage, logprobs: logprobs)
    }

    private static func number(_ node: JSONNode, in range: ClosedRange<Double>) throws -> Double? {
        guard let v = try node.optionalDouble() else { return nil }
        guard range.contains(v) else {
            throw BadRequest("\(node.path) must be between \(range.lowerBound.formatted()) and \(range.upperBound.formatted())", param: node.path)
        }
        return v
    }

    /// A message's text: a string, or an array of `{"type": "text", "text": ...}` parts.
    private static func content(_ node: JSONNode) throws -> String {
        if node.isNull { return "" }
        if let s = node.value as? String { return s }
        let parts = try node.array()
        return try parts.map { part in
            let type = try part["type"].string()
            guard type == "text" else { throw BadRequest("\(part.path) is a \(type) part; only text parts are supported", param: part.path) }
            return try part["text"].string()
        }.joined()
    }

    /// `prompt`: a string, one string in an array, token ids, or one array of token ids.
    private static func promptTokens(_ node: JSONNode, tokenizer: Tokenizer) throws -> [Int] {
        if let s = node.value as? String { return tokenizer.encode(s, parseSpecial: true) }
        guard node.exists else { throw BadRequest("prompt is missing; send a string", param: "prompt") }
        guard node.value is [Any] else { throw BadRequest("prompt is \(node.kind); send a string (or an array of token ids)", param: "prompt") }
        let items = try node.array()
        if items.count == 1, items[0].value is String { return tokenizer.encode(try items[0].string(), parseSpecial: true) }
        if items.count == 1, items[0].value is [Any] { return try promptTokens(items[0], tokenizer: tokenizer) }
        guard items.allSatisfy({ $0.value is NSNumber }) else {
            throw BadRequest("prompt must be a string, one string in an array, or token ids; this server takes one prompt per request", param: "prompt")
        }
        let ids = try items.map { try $0.int() }
        guard let bad = ids.first(where: { $0 < 0 || $0 >= tokenizer.vocabularySize }) else { return ids }
        throw BadRequest("prompt holds token id \(bad), outside the vocabulary (0..<\(tokenizer.vocabularySize))", param: "prompt")
    }
}

extension Routes {
    /// Runs a job and writes its response; returns the status and a summary for the log.
    func run(_ job: Job, _ writer: HTTPResponseWriter) async -> (Int, String) {
        let stream = instance.stream([job.request])[0]
        let id = (job.chat ? "chatcmpl-" : "cmpl-") + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(24)
        let envelope: [String: Any] = [
            "id": id, "created": Int(Date().timeIntervalSince1970), "model": settings.modelName,
            "object": job.chat ? (job.stream ? "chat.completion.chunk" : "chat.completion") : "text_completion",
        ]
        if !job.stream {
            var result: GenerationResult?
            do {
                for try await e in stream { if case .finished(let r) = e { result = r } }
            } catch {
                writer.respond(status: 500, json: OpenAIErrorBody.json("generation failed: \(error)", type: "server_error"))
                return (500, "\(error)")
            }
            guard let result else {
                writer.respond(status: 500, json: OpenAIErrorBody.json("generation ended without a result", type: "server_error"))
                return (500, "no result")
            }
            if result.finishReason == .invalidLogits {
                writer.respond(status: 500, json: OpenAIErrorBody.json(Self.invalidLogits, type: "server_error"))
                return (500, "invalid logits")
            }
            var choice: [String: Any] = ["index": 0, "finish_reason": Self.finishReason(result.finishReason)]
            if job.chat {
                choice["message"] = ["role": "assistant", "content": result.text]
                choice["logprobs"] = job.logprobs == nil ? NSNull() : ["content": result.tokens.map(contentEntry)] as Any
            } else {
                choice["text"] = result.text
                choice["logprobs"] = job.logprobs == nil ? NSNull() : legacyLogprobs(result.tokens) as Any
            }
            var body = envelope
            body["choices"] = [choice]
            body["usage"] = Self.usage(result)
            writer.respond(status: 200, json: body)
            return (200, "\(result.promptTokens) prompt + \(result.tokens.count) generated tokens, \(result.finishReason.rawValue)")
        }

        writer.startStream(contentType: "text/event-stream")
        func send(_ choice: [String: Any]?, usage: [String: Any]? = nil) -> Bool {
            var chunk = envelope
            chunk["choices"] = choice.map { [$0] } ?? []
            if let usage { chunk["usage"] = usage }
            return writer.writeChunk(Data("data: ".utf8) + encodeJSON(chunk) + Data("\n\n".utf8))
        }
        var textOffset = 0
        func delta(_ text: String, _ token: GeneratedToken?, finish: String? = nil) -> [String: Any] {
            defer { textOffset += token.map { instance.tokenizer.piece($0.id).count } ?? 0 }
            var c: [String: Any] = ["index": 0, "finish_reason": finish ?? NSNull()]
            if job.chat {
                c["delta"] = finish == nil ? ["content": text] : [:]
                c["logprobs"] = token.map { ["content": [contentEntry($0)]] } ?? NSNull()
            } else {
                c["text"] = text
                c["logprobs"] = token.map { legacyLogprobs([$0], offset: textOffset) } ?? NSNull()
            }
            return c
        }
        if job.chat, !send(["index": 0, "delta": ["role": "assistant", "content": ""], "finish_reason": NSNull(), "logprobs": NSNull()]) {
            return (200, "the client went away")
        }
        var streamed: [UInt8] = []
        var summary = ""
        do {
            for try await e in stream {
                switch e {
                case .token(let token, let text):
                    streamed += text.utf8
                    // Leaving the loop drops the stream, which takes the request out of the batch.
                    guard send(delta(text, job.logprobs == nil ? nil : token)) else { return (200, "the client went away") }
                case .repair:
                    // The replaced draw was never sent, so there is nothing to take back.
                    break
                case .finished(let result) where result.finishReason == .invalidLogits:
                    _ = writer.writeChunk(Data("data: ".utf8) + encodeJSON(OpenAIErrorBody.json(Self.invalidLogits, type: "server_error")) + Data("\n\n".utf8))
                    summary = "invalid logits, streamed"
                case .finished(let result):
                    // Text released only at the end (held for a possible stop sequence) has not been sent yet.
                    let all = Array(result.text.utf8)
                    if all.count > streamed.count, all.starts(with: streamed) {
                        _ = send(delta(String(decoding: all[streamed.count...], as: UTF8.self), nil))
                    }
                    _ = send(delta("", nil, finish: Self.finishReason(result.finishReason)))
                    if job.includeUsage { _ = send(nil, usage: Self.usage(result)) }
                    summary = "\(result.promptTokens) prompt + \(result.tokens.count) generated tokens, \(result.finishReason.rawValue), streamed"
                }
            }
        } catch {
            _ = writer.writeChunk(Data("data: ".utf8) + encodeJSON(OpenAIErrorBody.json("generation failed: \(error)", type: "server_error")) + Data("\n\n".utf8))
            summary = "failed mid-stream: \(error)"
        }
        _ = writer.writeChunk(Data("data: [DONE]\n\n".utf8))
        writer.endStream()
        return (200, summary)
    }

    static func finishReason(_ f: FinishReason) -> String {
        switch f {
        case .length: "length"
        case .endOfText, .stop, .complete, .cancelled, .repetition: "stop"
        case .invalidLogits: "error"
        }
    }

    static let invalidLogits = "the model produced NaN or infinite logits; its weights are likely corrupt"

    static func usage(_ r: GenerationResult) -> [String: Any] {
        ["prompt_tokens": r.promptTokens, "completion_tokens": r.tokens.count, "total_tokens": r.promptTokens + r.tokens.count]
    }

    /// JSON cannot carry infinities; a token the model ruled out gets a very low finite value.
    static func finite(_ x: Float) -> Double { x.isFinite ? Double(x) : -9999 }

    private func bytes(_ id: Int) -> [Int] {
        let t = instance.tokenizer
        let b = t.isControl(id) ? Array(t.piece(id).utf8) : t.tokenBytes[id]
        return b.map(Int.init)
    }

    /// The current shape, `{"id", "token", "bytes", "logprob", "top_logprobs": [...]}` (chat; llama.cpp uses it everywhere).
    func contentEntry(_ t: GeneratedToken) -> [String: Any] {
        let tk = instance.tokenizer
        return [
            "id": t.id, "token": tk.piece(t.id), "bytes": bytes(t.id), "logprob": Self.finite(t.logprob),
            "top_logprobs": t.top.map { ["id": $0.id, "token": tk.piece($0.id), "bytes": bytes($0.id), "logprob": Self.finite($0.logprob)] as [String: Any] },
        ]
    }

    /// OpenAI's completions shape: parallel arrays, alternatives as `{token: logprob}` objects.
    /// - Parameter offset: where the first token starts in the text (later chunks of a stream start further on).
    func legacyLogprobs(_ tokens: [GeneratedToken], offset start: Int = 0) -> [String: Any] {
        let tk = instance.tokenizer
        var offsets: [Int] = []
        var offset = start
        for t in tokens {
            offsets.append(offset)
            offset += tk.piece(t.id).count
        }
        return [
            "tokens": tokens.map { tk.piece($0.id) },
            "token_logprobs": tokens.map { Self.finite($0.logprob) },
            "top_logprobs": tokens.map { t in
                // Two alternatives can spell the same text; the likelier (first) one is kept.
                var top: [String: Double] = [:]
                for a in t.top where top[tk.piece(a.id)] == nil { top[tk.piece(a.id)] = Self.finite(a.logprob) }
                return top
            },
            "text_offset": offsets,
        ]
    }
}
