import Foundation
import Testing

/// Random JSON for every parameter of every `serve --stdio` method.
@Suite("serve --stdio under random parameters", .serialized)
struct FuzzTests {
    /// A seeded generator, so a failing case can be replayed.
    struct SplitMix: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    /// Any JSON value: scalars at the edges of their types, strings of code and of odd text, nested containers.
    static func value(_ rng: inout SplitMix, depth: Int = 0) -> Any {
        switch Int.random(in: 0..<(depth < 2 ? 10 : 8), using: &rng) {
        case 0: return NSNull()
        case 1: return Bool.random(using: &rng)
        case 2: return [0, 1, -1, 3, 64, Int.max, Int.min].randomElement(using: &rng)!
        case 3: return [1e19, -1e300, 2.5, -0.0, 1e-9, 123456789.5].randomElement(using: &rng)!
        case 4: return ["", "x", "Return 1.", "defmodule A do\n  def f, do: :ok\nend\n", "é😀\u{0}\u{7}", "DOS.StringToAtom"].randomElement(using: &rng)!
        case 5: return String(repeating: "ab(", count: Int.random(in: 1...3000, using: &rng))
        case 6: return String((0..<Int.random(in: 1...40, using: &rng)).map { _ in Character(UnicodeScalar(UInt8.random(in: 32...126, using: &rng))) })
        case 7: return Int.random(in: -1000...1000, using: &rng)
        case 8: return (0..<Int.random(in: 0...3, using: &rng)).map { _ in value(&rng, depth: depth + 1) }
        default: return Dictionary(uniqueKeysWithValues: (0..<Int.random(in: 0...3, using: &rng)).map { ("k\($0)", value(&rng, depth: depth + 1)) })
        }
    }

    static let methods: [(name: String, params: [String])] = [
        ("generate", ["task", "context", "candidates", "maxAttempts", "maxTokens", "seed", "temperature", "tests", "runExamples", "earlyStop", "gate", "stream"]),
        ("check", ["code"]),
        ("explain", ["code", "line", "check", "model"]),
        ("clarify", ["task", "samples"]),
        ("answerClarification", ["id", "answer"]),
        ("audit/recent", ["limit"]),
        ("audit/summary", []),
        ("models/registry", []),
        ("health", []),
    ]

    @Test("every request with random JSON parameters gets one answer, a result or an error of its kind; the server never fails")
    func randomParameters() throws {
        var rng = SplitMix(state: 20261207)
        let client = try StdioClient()
        var sent: [Int: String] = [:]
        for id in 1...90 {
            let method = Self.methods.randomElement(using: &rng)!
            var params: Any
            if Int.random(in: 0..<8, using: &rng) == 0 {
                params = Self.value(&rng)
            } else {
                var object: [String: Any] = [:]
                for name in method.params where Bool.random(using: &rng) || Bool.random(using: &rng) { object[name] = Self.value(&rng) }
                params = object
            }
            var message: [String: Any] = ["jsonrpc": "2.0", "id": id, "method": method.name]
            if !(params is NSNull) { message["params"] = params }
            try client.send(message)
            // Valid draws may start real work (a generate, an explanation with the model): cancelled
            // at once, they answer -32800 or their result.
            try client.send(["jsonrpc": "2.0", "method": "$/cancelRequest", "params": ["id": id]])
            sent[id] = "\(method.name) \(String(describing: params).prefix(160))"
        }
        var answered: [Int: Int] = [:]
        var unexpected: [String] = []
        var kinds: [String: Int] = [:]
        var notifications: [[String: Any]] = []
        while answered.count < sent.count {
            let m = try client.read()
            guard let id = m["id"] as? Int, m["method"] == nil else { notifications.append(m); continue }
            answered[id, default: 0] += 1
            if let error = m["error"] as? [String: Any] {
                let code = error["code"] as? Int ?? 0
                kinds["\(code)", default: 0] += 1
                // Invalid parameters or request, or cancelled; an internal error would be a bug.
                if ![-32602, -32600, -32800].contains(code) { unexpected.append("\(sent[id] ?? "?") -> \(code) \(error["message"] ?? "")") }
            } else if m["result"] != nil {
                kinds["result", default: 0] += 1
            } else {
                unexpected.append("\(sent[id] ?? "?") -> neither result nor error")
            }
        }
        #expect(unexpected.isEmpty, "\(unexpected)")
        // The draws reached both the parameter checks and real work.
        #expect((kinds["-32602"] ?? 0) >= 20 && (kinds["result"] ?? 0) >= 5, "\(kinds)")
        #expect(answered.values.allSatisfy { $0 == 1 } && Set(answered.keys) == Set(sent.keys))
        try client.send(["jsonrpc": "2.0", "id": 1000, "method": "health"])
        #expect(try client.response(id: 1000, notifications: &notifications)["result"] != nil, "the server still serves")
        #expect(try client.shutdown(id: 1001) == 0)
    }
}
