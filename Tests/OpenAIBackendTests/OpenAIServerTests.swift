import Engine
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Glibc
import Logging
import OpenAIBackend
import OpenAIServer
import Serving
import TestSupport
import Testing

/// One in-process server on the shared model for the whole suite.
enum InProcess {
    static let instance: ModelInstance = {
        var s = InstanceSettings(name: "http-test")
        s.threads = 2
        return ModelInstance(model: Shared.model, tokenizer: Shared.tokenizer, settings: s)
    }()

    static let server: OpenAIServer = {
        let server = try! OpenAIServer(instance: instance, settings: .init(modelName: "smollm2-test"), port: 0,
                                       logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
        Task.detached { await server.run() }
        return server
    }()

    static var url: URL { URL(string: "http://127.0.0.1:\(server.port)")! }

    /// Sends a request and returns the status and the JSON body.
    static func send(_ method: String, _ path: String, body: String? = nil) async throws -> (status: Int, json: [String: Any]) {
        var r = URLRequest(url: url.appendingPathComponent(path))
        r.httpMethod = method
        r.httpBody = body.map { Data($0.utf8) }
        let (data, response) = try await URLSession(configuration: .ephemeral).data(for: r)
        let json = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:]
        return ((response as! HTTPURLResponse).statusCode, json)
    }

    /// Writes raw bytes on a fresh connection and returns everything the server answers.
    static func raw(_ bytes: String) throws -> String {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = UInt16(server.port).bigEndian
        let ok = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard ok == 0 else { throw POSIXError(.ECONNREFUSED) }
        _ = bytes.withCString { Glibc.send(fd, $0, strlen($0), 0) }
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = read(fd, &buf, buf.count)
            if n <= 0 { break }
            out += buf[0..<n]
        }
        return String(decoding: out, as: UTF8.self)
    }
}

@Suite("OpenAI server on the embedded engine", .serialized)
struct OpenAIServerTests {
    @Test("malformed requests get a 400 with OpenAI's error object, and the server keeps serving", arguments: [
        ("v1/completions", #"{"prompt": "#, "the request body is not valid JSON", nil),
        ("v1/completions", #"[1, 2]"#, "the request body must be a JSON object, not an array", nil),
        ("v1/completions", #"{"max_tokens": 4}"#, "prompt is missing", "prompt"),
        ("v1/completions", #"{"prompt": 5}"#, "prompt is a number; send a string", "prompt"),
        ("v1/completions", #"{"prompt": "x", "temperature": "hot"}"#, "temperature is a string, expected a number", "temperature"),
        ("v1/completions", #"{"prompt": "x", "temperature": 5}"#, "temperature must be between 0 and 2", "temperature"),
        ("v1/completions", #"{"prompt": "x", "max_tokens": 0}"#, "max_tokens must be 1 or more", "max_tokens"),
        ("v1/completions", #"{"prompt": "x", "n": 2}"#, "n must be 1", "n"),
        ("v1/completions", #"{"prompt": "x", "logprobs": 50}"#, "logprobs must be between 0 and 20", "logprobs"),
        ("v1/completions", #"{"prompt": "x", "stop": [1]}"#, "stop[0] is a number, expected a string", "stop[0]"),
        ("v1/completions", #"{"prompt": "x", "grammar": "root ::= \"a\""}"#, "grammar is not supported", "grammar"),
        ("v1/completions", #"{"prompt": [99999999]}"#, "outside the vocabulary", "prompt"),
        ("v1/chat/completions", #"{"messages": []}"#, "messages is empty", "messages"),
        ("v1/chat/completions", #"{"messages": [{"content": "hi"}]}"#, "messages[0].role is missing (expected a string)", "messages[0].role"),
        ("v1/chat/completions", #"{"messages": [{"role": "user", "content": "hi"}], "logprobs": true, "top_logprobs": 99}"#, "top_logprobs must be between 0 and 20", "top_logprobs"),
    ] as [(String, String, String, String?)])
    func badRequests(path: String, body: String, message: String, param: String?) async throws {
        let (status, json) = try await InProcess.send("POST", path, body: body)
        #expect(status == 400)
        let error = try #require(json["error"] as? [String: Any])
        #expect((error["message"] as? String)?.contains(message) == true, "\(error)")
        #expect(error["type"] as? String == "invalid_request_error")
        #expect(error["param"] as? String == param)
        #expect(try await InProcess.send("GET", "health").status == 200)
    }

    @Test("unknown paths get 404, wrong methods 405, a garbled request 400; /health and /v1/models answer")
    func routing() async throws {
        let missing = try await InProcess.send("GET", "v1/engines")
        #expect(missing.status == 404)
        #expect(((missing.json["error"] as? [String: Any])?["message"] as? String)?.contains("no endpoint GET /v1/engines") == true)
        #expect(try await InProcess.send("GET", "v1/completions").status == 405)
        let garbled = try InProcess.raw("HELLO\r\n\r\n")
        #expect(garbled.hasPrefix("HTTP/1.1 400 Bad Request\r\n"))
        #expect(garbled.contains("is not 'METHOD /path HTTP/1.1'"))
        let health = try await InProcess.send("GET", "health")
        #expect(health.status == 200 && health.json["status"] as? String == "ok")
        let models = try await InProcess.send("GET", "v1/models")
        #expect(((models.json["data"] as? [[String: Any]])?.first?["id"] as? String) == "smollm2-test")
    }

    @Test("a greedy completion through the client is the engine's, token for token, in the older logprobs shape")
    func completionMatchesEngine() async throws {
        let client = OpenAIClient(configuration: .init(baseURL: InProcess.url, maxRetries: 0))
        let c = try await client.complete(CompletionRequest(.prompt(Recorded.prompt), maxTokens: 4, temperature: 0, topLogprobs: 2))

        var sampling = SamplingParameters.greedy
        sampling.topLogprobs = 2
        let direct = try await InProcess.instance.generate([GenerationRequest(prompt: Shared.tokenizer.encode(Recorded.prompt), maxTokens: 4, sampling: sampling)])[0]
        #expect(c.text == direct.text)
        #expect(c.tokens.map(\.token) == direct.tokens.map { Shared.tokenizer.piece($0.id) })
        // JSON carries the Float log-probabilities as decimal Doubles: equal to far below a Float's precision.
        for (ours, engine) in zip(c.tokens, direct.tokens) { #expect(abs((ours.logprob ?? 0) - Double(engine.logprob)) < 1e-6) }
        #expect(c.tokens.map { $0.top.map(\.token) } == direct.tokens.map { $0.top.map { Shared.tokenizer.piece($0.id) } })
        #expect(c.finishReason == .length)
        #expect(c.usage == Completion.Usage(promptTokens: 13, completionTokens: 4))
        #expect(c.model == "smollm2-test")
    }

    @Test("a streamed completion stops before a stop sequence; deltas add up to the text; usage comes last")
    func streamWithStop() async throws {
        let client = OpenAIClient(configuration: .init(baseURL: InProcess.url, maxRetries: 0))
        var deltas = ""
        var finished: Completion?
        for try await e in client.stream(CompletionRequest(.prompt(Recorded.prompt), maxTokens: 6, temperature: 0, stop: [" +"], topLogprobs: 1)) {
            switch e {
            case .delta(let d, _): deltas += d
            case .finished(let c): finished = c
            }
        }
        let c = try #require(finished)
        #expect(c.text == "\n    return a")
        #expect(deltas == c.text)
        #expect(c.finishReason == .stop)
        #expect(c.tokens.map(\.token) == ["\n   ", " return", " a", " +"])
        #expect(c.usage == Completion.Usage(promptTokens: 13, completionTokens: 4))
    }

    @Test("a client that stops reading a stream takes its request out of the batch")
    func abandonedStream() async throws {
        let client = OpenAIClient(configuration: .init(baseURL: InProcess.url, maxRetries: 0))
        for try await e in client.stream(CompletionRequest(.prompt(Recorded.prompt), maxTokens: 200, temperature: 0)) {
            if case .delta = e { break }
        }
        let deadline = ContinuousClock.now + .seconds(60)
        while InProcess.instance.load > 0 && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(100)) }
        #expect(InProcess.instance.load == 0)
    }
}
