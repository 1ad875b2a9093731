import Foundation
import Logging
import OpenAIBackend
import TestSupport
import Testing

/// The recorded llama.cpp server exchanges in `Tests/Fixtures/llama-cpp/`.
enum Recorded {
    static func data(_ name: String) throws -> Data {
        try Data(contentsOf: TestPaths.fixtures.appendingPathComponent("llama-cpp/\(name)"))
    }

    static func json(_ name: String) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: data(name)) as! [String: Any]
    }

    static let prompt = "defmodule Math do\n  def add(a, b) do"
}

/// A client for `server` that retries quickly, so failure tests stay fast.
func client(_ server: LoopbackServer, dialect: OpenAIConfiguration.Dialect = .openAI, maxRetries: Int = 2,
            apiKeyVariable: String? = nil, environment: [String: String] = [:]) -> OpenAIClient {
    OpenAIClient(configuration: OpenAIConfiguration(baseURL: server.url, apiKeyVariable: apiKeyVariable, dialect: dialect, timeout: .seconds(10),
                                                    maxRetries: maxRetries, retryDelay: .milliseconds(20), environment: environment),
                 logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
}

@Suite("OpenAI client against recorded llama.cpp responses")
struct OpenAIClientFixtureTests {
    @Test("/v1/completions with logprobs: text, every token with its alternatives, finish reason, usage")
    func completionsWithLogprobs() async throws {
        let req = try Recorded.json("req_a.json")
        let server = try LoopbackServer([.json(try Recorded.data("a_v1_completions_logprobs.json"))])
        defer { server.stop() }
        let request = CompletionRequest(.prompt(req["prompt"] as! String), maxTokens: req["max_tokens"] as? Int,
                                        temperature: 0, topLogprobs: req["logprobs"] as? Int)
        let c = try await client(server).complete(request)

        let sent = try #require(server.requests.first)
        #expect(sent.method == "POST" && sent.path == "/v1/completions")
        #expect(sent.json["prompt"] as? String == Recorded.prompt)
        #expect(sent.json["max_tokens"] as? Int == 32 && sent.json["logprobs"] as? Int == 5 && sent.json["temperature"] as? Double == 0)

        let recorded = try Recorded.json("a_v1_completions_logprobs.json")
        let choice = (recorded["choices"] as! [[String: Any]])[0]
        #expect(c.text == choice["text"] as! String)
        #expect(c.text.hasPrefix("\n    return a + b\n  end\nend\n"))
        #expect(c.finishReason == .length)
        #expect(c.usage == Completion.Usage(promptTokens: 13, completionTokens: 32))
        #expect(c.model == "models/SmolLM2-135M-Instruct.Q4_1.gguf")
        #expect(c.tokens.count == 32)
        #expect(c.tokens.map(\.token).joined() == c.text)
        let first = c.tokens[0]
        #expect(first.token == "\n   " && first.id == 472 && first.bytes == [10, 32, 32, 32] && first.logprob == -1.2426882982254028)
        #expect(first.top.map(\.token) == ["\n   ", "\n ", " a", " |", " {"])
        #expect(first.top.map(\.id) == [472, 3805, 253, 2504, 1662])
        #expect(first.top[1].logprob == -1.8453933000564575)
        #expect(c.tokens.allSatisfy { $0.top.count == 5 && $0.top.first?.token == $0.token })
        #expect(c.latency.total >= c.latency.firstToken)
    }

    @Test("llama.cpp's native /completion with n_probs: token ids, probabilities, stop type")
    func nativeCompletion() async throws {
        let server = try LoopbackServer([.json(try Recorded.data("b_completion_nprobs.json"))])
        defer { server.stop() }
        let c = try await client(server, dialect: .llamaCpp).complete(CompletionRequest(.prompt(Recorded.prompt), maxTokens: 32, temperature: 0, topLogprobs: 5))

        let sent = try #require(server.requests.first)
        #expect(sent.path == "/completion")
        #expect(sent.json["n_predict"] as? Int == 32 && sent.json["n_probs"] as? Int == 5 && sent.json["max_tokens"] == nil)

        let recorded = try Recorded.json("b_completion_nprobs.json")
        #expect(c.text == recorded["content"] as! String)
        #expect(c.tokens.compactMap(\.id) == recorded["tokens"] as! [Int])
        #expect(c.finishReason == .length)
        #expect(c.usage == Completion.Usage(promptTokens: 13, completionTokens: 32))
        #expect(c.tokens[3].token == " +" && c.tokens[3].logprob == -0.05304433032870293 && c.tokens[3].top[1].token == " *")
    }

    @Test("a GBNF grammar goes out verbatim and the constrained completion comes back")
    func grammar() async throws {
        let req = try Recorded.json("req_c.json")
        let grammar = req["grammar"] as! String
        let server = try LoopbackServer([.json(try Recorded.data("c_completion_grammar.json"))])
        defer { server.stop() }
        let c = try await client(server, dialect: .llamaCpp).complete(
            CompletionRequest(.prompt(Recorded.prompt), maxTokens: 32, temperature: 0, grammar: grammar, topLogprobs: 5))

        #expect(server.requests.first?.json["grammar"] as? String == grammar)
        #expect(c.text == "\n    return + a\n  end\nend\n")
        #expect(c.finishReason == .stop)
        #expect(c.tokens.count == 11)
        #expect(c.usage == Completion.Usage(promptTokens: 13, completionTokens: 11))
    }

    /// The deltas llama.cpp sent in the recorded chat stream, in order.
    static func recordedDeltas() throws -> [String] {
        let text = String(decoding: try Recorded.data("d_chat_completions_stream.sse"), as: UTF8.self)
        return text.components(separatedBy: "\n\n").compactMap { event -> String? in
            guard event.hasPrefix("data: {") else { return nil }
            let obj = try! JSONSerialization.jsonObject(with: Data(event.dropFirst(6).utf8)) as! [String: Any]
            let delta = ((obj["choices"] as! [[String: Any]])[0]["delta"] as! [String: Any])
            return delta["content"] as? String
        }
    }

    @Test("a recorded chat stream over SSE, chunked or closed-delimited, in pieces that split events",
          arguments: [LoopbackServer.Framing.chunked(700), .chunked(1), .close])
    func chatStream(framing: LoopbackServer.Framing) async throws {
        let req = try Recorded.json("req_d.json")
        let content = ((req["messages"] as! [[String: Any]])[0]["content"] as! String)
        let server = try LoopbackServer([.sse(try Recorded.data("d_chat_completions_stream.sse"), framing: framing)])
        defer { server.stop() }
        let request = CompletionRequest(.chat([.init(role: "user", content: content)]), maxTokens: 48, temperature: 0, topLogprobs: 5)

        var deltas: [String] = []
        var tokens: [CompletionToken] = []
        var finished: Completion?
        for try await e in client(server).stream(request) {
            switch e {
            case .delta(let text, let t):
                #expect(finished == nil)
                deltas.append(text)
                tokens += t
            case .finished(let c): finished = c
            }
        }
        let sent = try #require(server.requests.first)
        #expect(sent.path == "/v1/chat/completions")
        #expect(sent.json["stream"] as? Bool == true && sent.json["logprobs"] as? Bool == true && sent.json["top_logprobs"] as? Int == 5)
        #expect((sent.json["messages"] as? [[String: String]]) == [["role": "user", "content": content]])

        let expected = try Self.recordedDeltas()
        #expect(deltas == expected)
        #expect(tokens.count == 48)
        #expect(tokens[0].token == "```" && tokens[0].logprob == -1.433066964149475 && tokens[0].top[1].token == "Here")
        let c = try #require(finished)
        #expect(c.text == expected.joined())
        #expect(c.tokens == tokens)
        #expect(c.finishReason == .length)
        #expect(c.id == "chatcmpl-9sosHYrewUzf5Z6ZpHg5Pe0SKLnvfOYx")
    }
}

@Suite("OpenAI client: request bodies, the older logprobs shape, errors and retries")
struct OpenAIClientBehaviourTests {
    @Test("the body carries seed, min_p, stop, grammar, logprobs and the bearer key from the named variable")
    func requestBody() async throws {
        let server = try LoopbackServer([.json(try Recorded.data("a_v1_completions_logprobs.json"))])
        defer { server.stop() }
        var config = OpenAIConfiguration(baseURL: server.url.appendingPathComponent("v1"), model: "smollm2", apiKeyVariable: "MY_KEY",
                                         environment: ["MY_KEY": "sk-test-123"])
        config.maxRetries = 0
        let request = CompletionRequest(.prompt("x ="), maxTokens: 7, temperature: 0.3, topP: 0.9, topK: 20, minP: 0.1, seed: 42,
                                        stop: ["\nend", "```"], grammar: "root ::= \"a\"", topLogprobs: 3)
        _ = try await OpenAIClient(configuration: config).complete(request)
        let sent = try #require(server.requests.first)
        #expect(sent.path == "/v1/completions")
        #expect(sent.headers["authorization"] == "Bearer sk-test-123")
        #expect(sent.headers["content-type"] == "application/json")
        let b = sent.json
        #expect(b["model"] as? String == "smollm2")
        #expect(b["seed"] as? Int == 42)
        #expect(b["min_p"] as? Double == 0.1)
        #expect(b["top_p"] as? Double == 0.9 && b["top_k"] as? Int == 20 && b["temperature"] as? Double == 0.3)
        #expect(b["stop"] as? [String] == ["\nend", "```"])
        #expect(b["grammar"] as? String == "root ::= \"a\"")
        #expect(b["logprobs"] as? Int == 3)
        #expect(b["max_tokens"] as? Int == 7)
        #expect(b["stream"] == nil)
    }

    @Test("an API key variable that is not set is a configuration error, before any request")
    func missingKey() async throws {
        let server = try LoopbackServer([.json(Data("{}".utf8))])
        defer { server.stop() }
        let error = await #expect(throws: OpenAIError.self) {
            try await client(server, apiKeyVariable: "NOT_SET_ANYWHERE").complete(CompletionRequest(.prompt("x")))
        }
        #expect(error?.code == .invalidConfiguration)
        #expect(error?.message.contains("NOT_SET_ANYWHERE") == true)
        #expect(server.requests.isEmpty)
    }

    @Test("the older logprobs shape: tokens, token_logprobs and top_logprobs objects, best first")
    func olderLogprobsShape() async throws {
        let body = """
        {"id":"cmpl-1","object":"text_completion","model":"gpt-3.5-turbo-instruct","choices":[{"text":" a + b","index":0,"finish_reason":"stop",
        "logprobs":{"tokens":[" a"," +"," b"],"token_logprobs":[-0.5,-0.05,null],"top_logprobs":[{" b":-2.5," a":-0.5},{" +":-0.05},null],"text_offset":[0,2,4]}}],
        "usage":{"prompt_tokens":5,"completion_tokens":3,"total_tokens":8}}
        """
        let server = try LoopbackServer([.json(Data(body.utf8))])
        defer { server.stop() }
        let c = try await client(server).complete(CompletionRequest(.prompt("x ="), topLogprobs: 2))
        #expect(c.text == " a + b")
        #expect(c.finishReason == .stop)
        #expect(c.usage == Completion.Usage(promptTokens: 5, completionTokens: 3))
        #expect(c.tokens.map(\.token) == [" a", " +", " b"])
        #expect(c.tokens.map(\.logprob) == [-0.5, -0.05, nil])
        #expect(c.tokens[0].top == [.init(token: " a", logprob: -0.5), .init(token: " b", logprob: -2.5)])
        #expect(c.tokens[2].top.isEmpty)
    }

    @Test("llama.cpp's native stream (no [DONE]: the last chunk says stop) and its older probs shape")
    func nativeStream() async throws {
        let sse = """
        data: {"content":" a","stop":false,"completion_probabilities":[{"content":" a","probs":[{"tok_str":" a","prob":0.5},{"tok_str":" b","prob":0.25}]}]}

        data: {"content":" +","stop":false,"completion_probabilities":[{"id":1232,"token":" +","logprob":-0.05,"top_logprobs":[{"id":1232,"token":" +","logprob":-0.05}]}]}

        data: {"content":"","stop":true,"stop_type":"word","stopping_word":" b","tokens_evaluated":13,"tokens_predicted":3,"model":"m"}


        """
        let server = try LoopbackServer([.sse(Data(sse.utf8), framing: .close)])
        defer { server.stop() }
        var finished: Completion?
        for try await e in client(server, dialect: .llamaCpp).stream(CompletionRequest(.prompt("x ="), stop: [" b"], topLogprobs: 2)) {
            if case .finished(let c) = e { finished = c }
        }
        #expect(server.requests.first?.path == "/completion")
        #expect(server.requests.first?.json["stream"] as? Bool == true)
        #expect(server.requests.first?.json["stream_options"] == nil)
        let c = try #require(finished)
        #expect(c.text == " a +")
        #expect(c.finishReason == .stop)
        #expect(c.usage == Completion.Usage(promptTokens: 13, completionTokens: 3))
        #expect(c.tokens.map(\.token) == [" a", " +"])
        #expect(c.tokens[0].logprob == Foundation.log(0.5))
        #expect(c.tokens[0].top.map(\.token) == [" a", " b"])
        #expect(c.tokens[1].id == 1232)
    }

    @Test("a refused connection names the URL and says what to check")
    func connectionRefused() async throws {
        let port = try LoopbackServer.closedPort()
        let config = OpenAIConfiguration(baseURL: URL(string: "http://127.0.0.1:\(port)")!, maxRetries: 2, retryDelay: .milliseconds(10))
        let error = await #expect(throws: OpenAIError.self) {
            try await OpenAIClient(configuration: config).complete(CompletionRequest(.prompt("x")))
        }
        #expect(error?.code == .connectionFailed)
        let message = error?.message ?? ""
        #expect(message.contains("http://127.0.0.1:\(port)/v1/completions"))
        #expect(message.contains("connection refused"))
        #expect(message.contains("after 3 attempts"))
    }

    @Test("a 500 and a 429 are retried, then the 200 is used")
    func retries() async throws {
        let server = try LoopbackServer([
            .json(Data(#"{"error":{"code":500,"message":"loading model","type":"server_error"}}"#.utf8), status: 500),
            LoopbackServer.Reply(status: 429, headers: ["Retry-After": "0"], body: Data(#"{"error":{"message":"busy"}}"#.utf8)),
            .json(try Recorded.data("a_v1_completions_logprobs.json")),
        ])
        defer { server.stop() }
        let c = try await client(server, maxRetries: 3).complete(CompletionRequest(.prompt(Recorded.prompt), topLogprobs: 5))
        #expect(c.tokens.count == 32)
        #expect(server.requests.count == 3)
    }

    @Test("a streamed request is retried too while nothing has been streamed")
    func streamRetries() async throws {
        let server = try LoopbackServer([
            .json(Data(#"{"error":{"message":"loading model"}}"#.utf8), status: 503),
            .sse(try Recorded.data("d_chat_completions_stream.sse"), framing: .chunked(4096)),
        ])
        defer { server.stop() }
        var text = ""
        for try await e in client(server).stream(CompletionRequest(.chat([.init(role: "user", content: "hi")]))) {
            if case .finished(let c) = e { text = c.text }
        }
        #expect(text.hasPrefix("```python\ndef"))
        #expect(server.requests.count == 2)
    }

    @Test("an HTTP error that retrying cannot fix comes back at once with the status and the server's message")
    func httpError() async throws {
        let body = #"{"error":{"code":400,"message":"the request exceeds the available context size","type":"exceed_context_size_error"}}"#
        let server = try LoopbackServer([.json(Data(body.utf8), status: 400)])
        defer { server.stop() }
        let error = await #expect(throws: OpenAIError.self) {
            try await client(server).complete(CompletionRequest(.prompt("x")))
        }
        #expect(error?.code == .httpStatus)
        #expect(error?.status == 400)
        #expect(error?.body == body)
        #expect(error?.message.contains("HTTP 400") == true)
        #expect(error?.message.contains("the request exceeds the available context size") == true)
        #expect(server.requests.count == 1)
    }

    @Test("malformed responses name what is wrong", arguments: [
        (#"{"choices":[{"index":0,"finish_reason":"stop"}]}"#, "choices[0].text is missing (expected a string)"),
        (#"{"choices":[{"text":"x","logprobs":{"content":[{"token":"x"}]}}]}"#, "choices[0].logprobs.content[0].logprob is missing (expected a number)"),
        (#"{"choices":[{"text":5}]}"#, "choices[0].text is a number, expected a string"),
        (#"{"object":"list"}"#, "choices is missing (expected an array)"),
        ("<html>Bad gateway</html>", "is not valid JSON (\"<html>Bad gateway</html>\")"),
    ])
    func malformed(body: String, complaint: String) async throws {
        let server = try LoopbackServer([.json(Data(body.utf8))])
        defer { server.stop() }
        let error = await #expect(throws: OpenAIError.self) {
            try await client(server).complete(CompletionRequest(.prompt("x")))
        }
        #expect(error?.code == .malformedResponse)
        #expect(error?.message.contains(complaint) == true, "\(error?.message ?? "")")
        #expect(error?.message.contains(server.url.absoluteString + "/v1/completions") == true)
    }

    @Test("a chat response without its message is malformed too")
    func malformedChat() async throws {
        let server = try LoopbackServer([.json(Data(#"{"choices":[{"index":0,"finish_reason":"stop"}]}"#.utf8))])
        defer { server.stop() }
        let error = await #expect(throws: OpenAIError.self) {
            try await client(server).complete(CompletionRequest(.chat([.init(role: "user", content: "hi")])))
        }
        #expect(error?.message.contains("choices[0].message is missing (expected an object)") == true, "\(error?.message ?? "")")
    }

    @Test("a server that says nothing within the timeout is a timeout, not retried")
    func timeout() async throws {
        var reply = LoopbackServer.Reply.json(try Recorded.data("a_v1_completions_logprobs.json"))
        reply.stall = 3
        let server = try LoopbackServer([reply])
        defer { server.stop() }
        var config = OpenAIConfiguration(baseURL: server.url, timeout: .seconds(1), maxRetries: 2)
        config.retryDelay = .milliseconds(10)
        let start = ContinuousClock.now
        let error = await #expect(throws: OpenAIError.self) {
            try await OpenAIClient(configuration: config).complete(CompletionRequest(.prompt("x")))
        }
        #expect(error?.code == .timedOut)
        #expect(error?.message.contains(server.url.absoluteString) == true)
        #expect(error?.message.contains("within the timeout of 1 s") == true)
        #expect(ContinuousClock.now - start < .milliseconds(2500))
        #expect(server.requests.count == 1)
    }

    @Test("an error inside a stream ends it with the server's message")
    func streamError() async throws {
        let sse = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}\n\ndata: {\"error\":{\"code\":500,\"message\":\"slot crashed\"}}\n\n"
        let server = try LoopbackServer([.sse(Data(sse.utf8), framing: .chunked(10))])
        defer { server.stop() }
        var deltas: [String] = []
        let error = await #expect(throws: OpenAIError.self) {
            for try await e in client(server).stream(CompletionRequest(.chat([.init(role: "user", content: "hi")]))) {
                if case .delta(let d, _) = e { deltas.append(d) }
            }
        }
        #expect(deltas == ["a"])
        #expect(error?.code == .serverError)
        #expect(error?.message.contains("slot crashed") == true)
    }
}

@Suite("OpenAI client against a real server")
struct OpenAIRealServerTests {
    @Test("completion and chat stream against ELIXIR_CODER_TEST_OPENAI_URL, when set")
    func realServer() async throws {
        guard let base = ProcessInfo.processInfo.environment["ELIXIR_CODER_TEST_OPENAI_URL"], let url = URL(string: base) else {
            print("skipped: set ELIXIR_CODER_TEST_OPENAI_URL (e.g. http://127.0.0.1:8080) to run against a real OpenAI-compatible server")
            return
        }
        let env = ProcessInfo.processInfo.environment
        let client = OpenAIClient(configuration: OpenAIConfiguration(baseURL: url, model: env["ELIXIR_CODER_TEST_OPENAI_MODEL"],
                                                                     apiKeyVariable: env["ELIXIR_CODER_TEST_OPENAI_KEY_VARIABLE"]))
        let c = try await client.complete(CompletionRequest(.prompt(Recorded.prompt), maxTokens: 8, temperature: 0, seed: 1, topLogprobs: 2))
        #expect(!c.text.isEmpty)
        #expect(!c.tokens.isEmpty && c.tokens.allSatisfy { $0.logprob.map { $0 <= 0 } ?? true })
        var streamed = ""
        var finished: Completion?
        for try await e in client.stream(CompletionRequest(.chat([.init(role: "user", content: "Say hello.")]), maxTokens: 8, temperature: 0, topLogprobs: 2)) {
            switch e {
            case .delta(let d, _): streamed += d
            case .finished(let f): finished = f
            }
        }
        #expect(finished?.text == streamed)
        #expect(!streamed.isEmpty)
    }
}
