import Foundation

/// The three request and response formats a `CompletionRequest` can travel in.
enum WireFormat: Sendable {
    case completions, chat, llamaCppNative
}

extension CompletionRequest {
    /// The format this request uses under a configuration.
    func format(_ configuration: OpenAIConfiguration) -> WireFormat {
        switch input {
        case .chat: .chat
        case .prompt: configuration.dialect == .llamaCpp ? .llamaCppNative : .completions
        }
    }

    /// The endpoint and JSON body.
    func wire(_ configuration: OpenAIConfiguration, stream: Bool) -> (url: URL, body: [String: Any]) {
        var b: [String: Any] = [:]
        let format = format(configuration)
        if let m = model ?? configuration.model { b["model"] = m }
        if let v = temperature { b["temperature"] = v }
        if let v = topP { b["top_p"] = v }
        if let v = topK { b["top_k"] = v }
        if let v = minP { b["min_p"] = v }
        if let v = seed { b["seed"] = v }
        if !stop.isEmpty { b["stop"] = stop }
        if let v = grammar { b["grammar"] = v }
        if let v = frequencyPenalty { b["frequency_penalty"] = v }
        if let v = presencePenalty { b["presence_penalty"] = v }
        if stream {
            b["stream"] = true
            // Servers that know it send token counts in a last chunk; the others ignore it.
            if format != .llamaCppNative { b["stream_options"] = ["include_usage": true] }
        }
        switch (input, format) {
        case (.chat(let messages), _):
            b["messages"] = messages.map { ["role": $0.role, "content": $0.content] }
            if let v = maxTokens { b["max_tokens"] = v }
            if let k = topLogprobs {
                b["logprobs"] = true
                b["top_logprobs"] = k
            }
            return (configuration.url(v1: "chat/completions"), b)
        case (.prompt(let prompt), .llamaCppNative):
            b["prompt"] = prompt
            if let v = maxTokens { b["n_predict"] = v }
            // n_probs 0 would drop the chosen token's probability too.
            if let k = topLogprobs { b["n_probs"] = max(k, 1) }
            return (configuration.url(root: "completion"), b)
        case (.prompt(let prompt), _):
            b["prompt"] = prompt
            if let v = maxTokens { b["max_tokens"] = v }
            if let k = topLogprobs { b["logprobs"] = k }
            return (configuration.url(v1: "completions"), b)
        }
    }
}

/// One parsed chunk of a stream, or a whole response.
struct DecodedChunk: Sendable {
    var text = ""
    var tokens: [CompletionToken] = []
    var finishReason: Completion.FinishReason?
    var usage: Completion.Usage?
    var model: String?
    var id: String?
    /// llama.cpp's native stream has no `[DONE]`: its last chunk says `"stop": true`.
    var isLast = false
}

/// Reads responses in every shape the servers send.
enum ResponseDecoder {
    /// A whole response or one stream chunk.
    /// - Parameter topLogprobs: how many alternatives were asked for; extra ones are dropped.
    static func decode(_ root: JSONNode, format: WireFormat, streaming: Bool, topLogprobs: Int?) throws(JSONShapeError) -> DecodedChunk {
        var c = DecodedChunk()
        c.model = try root["model"].optionalString()
        c.id = try root["id"].optionalString()
        switch format {
        case .llamaCppNative:
            c.text = try root["content"].string()
            if let probs = try root["completion_probabilities"].optionalArray() {
                c.tokens = try probs.map(contentEntry)
            }
            c.isLast = streaming ? try root["stop"].optionalBool() ?? false : true
            if c.isLast {
                c.finishReason = try root["stop_type"].optionalString().map(Completion.FinishReason.init)
                if let p = try root["tokens_evaluated"].optionalInt(), let n = try root["tokens_predicted"].optionalInt() {
                    c.usage = Completion.Usage(promptTokens: p, completionTokens: n)
                }
            }
            c.id = nil
        case .completions, .chat:
            let choices = try root["choices"].array()
            if choices.isEmpty && !streaming { throw JSONShapeError(path: "choices[0]", expected: "a choice", found: nil) }
            if let choice = choices.first {
                switch (format, streaming) {
                case (.chat, false): c.text = try choice["message"].object()["content"].optionalString() ?? ""
                case (.chat, true): c.text = try choice["delta"]["content"].optionalString() ?? ""
                default: c.text = streaming ? try choice["text"].optionalString() ?? "" : try choice["text"].string()
                }
                c.tokens = try tokens(choice["logprobs"])
                c.finishReason = try choice["finish_reason"].optionalString().map(Completion.FinishReason.init)
            }
            if !root["usage"].isNull {
                c.usage = Completion.Usage(promptTokens: try root["usage"]["prompt_tokens"].int(),
                                           completionTokens: try root["usage"]["completion_tokens"].int())
            }
        }
        if let k = topLogprobs {
            for i in c.tokens.indices where c.tokens[i].top.count > k { c.tokens[i].top.removeLast(c.tokens[i].top.count - k) }
        }
        return c
    }

    /// Per-token log-probabilities in either shape: `{"content": [...]}` (chat, and llama.cpp's
    /// completions) or the older `{"tokens", "token_logprobs", "top_logprobs"}` (OpenAI's completions).
    static func tokens(_ logprobs: JSONNode) throws(JSONShapeError) -> [CompletionToken] {
        if logprobs.isNull { return [] }
        if logprobs["content"].exists {
            return try logprobs["content"].optionalArray()?.map(contentEntry) ?? []
        }
        if logprobs["tokens"].exists {
            let tokens = try logprobs["tokens"].array()
            let lps = try logprobs["token_logprobs"].array()
            guard lps.count == tokens.count else {
                throw JSONShapeError(path: lps.isEmpty ? logprobs["token_logprobs"].path : lps[0].path,
                                     expected: "\(tokens.count) entries, one per token", found: "\(lps.count) entries")
            }
            let tops = try logprobs["top_logprobs"].optionalArray()
            var out: [CompletionToken] = []
            for (i, t) in tokens.enumerated() {
                var top: [CompletionToken.Alternative] = []
                if let tops, i < tops.count, !tops[i].isNull {
                    top = try tops[i].members().map { (key, value) throws(JSONShapeError) in .init(token: key, logprob: try value.double()) }
                    // JSON objects are unordered; best first is what callers expect.
                    top.sort { $0.logprob > $1.logprob }
                }
                out.append(CompletionToken(token: try t.string(), logprob: try lps[i].optionalDouble(), top: top))
            }
            return out
        }
        throw JSONShapeError(path: logprobs["content"].path, expected: "an array (or the older `tokens` and `token_logprobs`)", found: nil)
    }

    /// One `{"token", "logprob", "id"?, "bytes"?, "top_logprobs"?}` entry; also llama.cpp's
    /// older `{"content", "probs": [{"tok_str", "prob"}]}`.
    static func contentEntry(_ e: JSONNode) throws(JSONShapeError) -> CompletionToken {
        if !e["token"].exists, e["probs"].exists {
            let probs = try e["probs"].array()
            let top = try probs.map { (p) throws(JSONShapeError) in
                CompletionToken.Alternative(token: try p["tok_str"].string(), logprob: Foundation.log(try p["prob"].double()), id: try p["id"].optionalInt())
            }
            let text = try e["content"].string()
            return CompletionToken(token: text, logprob: top.first { $0.token == text }?.logprob, top: top)
        }
        let top = try e["top_logprobs"].optionalArray()?.map { (a) throws(JSONShapeError) in
            CompletionToken.Alternative(token: try a["token"].string(), logprob: try a["logprob"].double(), id: try a["id"].optionalInt())
        } ?? []
        return CompletionToken(token: try e["token"].string(), logprob: try e["logprob"].double(), id: try e["id"].optionalInt(),
                               bytes: try e["bytes"].optionalArray()?.map { (b) throws(JSONShapeError) in UInt8(clamping: try b.int()) }, top: top)
    }

    /// The server's own words from an error body: `error.message`, `error` as a string, or `message`.
    static func errorMessage(_ body: Data) -> String? {
        guard let root = try? JSONNode.parse(body) else { return nil }
        if let m = try? root["error"]["message"].string() { return m }
        if let m = try? root["error"].string() { return m }
        return try? root["message"].string()
    }
}
