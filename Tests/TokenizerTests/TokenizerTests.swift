import TestSupport
import Foundation
import Testing
import Tokenizer

@Suite("Tokenizer against llama.cpp")
struct TokenizerGoldenTests {
    @Test("token ids match llama-tokenize", arguments: Golden.loaded.entries)
    func goldenIds(entry: GoldenEntry) {
        #expect(Shared.tokenizer.encode(entry.prompt) == entry.token_ids)
    }

    @Test("greedy continuations decode to llama.cpp's text")
    func continuationText() throws {
        let data = try Data(contentsOf: TestPaths.fixtures.appendingPathComponent("llama-cpp/golden.json"))
        let json = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        for e in json["entries"] as! [[String: Any]] {
            let ids = e["greedy_continuation_ids"] as! [Int]
            #expect(Shared.tokenizer.decode(ids) == e["greedy_continuation_text"] as! String)
        }
    }

    @Test("ChatML prompt renders and tokenizes like llama.cpp's template")
    func chatTemplate() throws {
        let expectedText = try JSONSerialization.jsonObject(with: Data(contentsOf: TestPaths.fixtures.appendingPathComponent("llama-cpp/e_apply_template.json"))) as! [String: Any]
        let expectedIds = try JSONSerialization.jsonObject(with: Data(contentsOf: TestPaths.fixtures.appendingPathComponent("llama-cpp/e_chat_prompt_tokens.json"))) as! [String: Any]
        let template = try #require(ChatTemplate(template: Shared.tokenizer.chatTemplate))
        let text = template.render([ChatMessage(role: "user", content: "Write an Elixir function that adds two numbers.")])
        #expect(text == expectedText["prompt"] as! String)
        #expect(Shared.tokenizer.encode(text, parseSpecial: true) == expectedIds["tokens"] as! [Int])
    }

    @Test("chat templates are recognised by family and render their own markup; an unknown one falls back to ChatML")
    func chatFormats() throws {
        let conversation: [ChatMessage] = [.system("Be brief."), .user("Hi")]
        let llama3 = try #require(ChatTemplate(template: "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' }}"))
        #expect(llama3.format == .llama3)
        #expect(llama3.render(conversation) == "<|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n")
        let gemma = try #require(ChatTemplate(template: "{{ '<start_of_turn>' + role + '\n' }}"))
        #expect(gemma.render(conversation) == "<start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\n", "no system role: it opens the user's turn")
        let phi3 = try #require(ChatTemplate(template: "{{ '<|user|>' }}{{ '<|end|>' }}{{ '<|assistant|>' }}"))
        #expect(phi3.render(conversation) == "<|system|>\nBe brief.<|end|>\n<|user|>\nHi<|end|>\n<|assistant|>\n")
        let inst = try #require(ChatTemplate(template: "{{ '[INST] ' + content + ' [/INST]' }}"))
        #expect(inst.render(conversation) == "[INST] Be brief.\n\nHi [/INST]")
        #expect(ChatTemplate(template: "{{ messages }}") == nil && ChatTemplate.forModel("{{ messages }}").format == .chatML)
        #expect(ChatTemplate.forModel(nil).render([.user("Hi")]) == "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")
        // The embedded model's own template is ChatML with a default system prompt.
        let smol = ChatTemplate.forModel(Shared.tokenizer.chatTemplate)
        #expect(smol.format == .chatML && smol.defaultSystemPrompt != nil)
        #expect(smol.render([.user("Hi")]).hasPrefix("<|im_start|>system\n"))
        #expect(smol.render([.user("Hi")], defaultSystem: false) == "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")
    }

    @Test("special tokens are plain text unless parsed")
    func specialTokens() {
        let t = Shared.tokenizer
        #expect(t.encode("<|im_end|>", parseSpecial: true) == [2])
        #expect(t.encode("<|im_end|>").count > 1)
        #expect(t.decode(t.encode("<|im_end|>")) == "<|im_end|>")
        #expect(t.eosTokens.contains(2))
    }
}

@Suite("Tokenizer round trips")
struct TokenizerRoundTripTests {
    static let samples = [
        "", " ", "\n", "\r\n\r\n", "\t\tx", "a  b   c", "defmodule Foo do\n  def bar, do: :ok\nend\n",
        "emoji 👩‍👩‍👧 and 🎉🎉", "日本語のテキスト", "x = 1_000_000 + 0x1F", "'s 're 'LL it's", "  \u{00A0}nbsp",
        "~r/[a-z]+/i <> \"#{inspect(x)}\" |> IO.puts", "\u{FFFD}\u{0}\u{1F}", "ß ﬁ İ Ω", "   trailing   ",
    ]

    @Test("decode(encode(s)) == s on tricky strings", arguments: samples)
    func fixed(_ s: String) {
        #expect(Shared.tokenizer.decode(Shared.tokenizer.encode(s)) == s)
    }

    @Test("decode(encode(s)) == s on random strings")
    func random() {
        var rng = SplitMix(seed: 0xE11C)
        let pools: [[UInt32]] = [
            Array(0x20...0x7E), [0x09, 0x0A, 0x0D, 0x20, 0x20], Array(0xE0...0xFF), Array(0x3040...0x30FF),
            Array(0x4E00...0x4E80), Array(0x1F300...0x1F64F), [0x200D, 0xFE0F, 0x00A0, 0x2028, 0x0], Array(0x0300...0x036F),
        ]
        for _ in 0..<400 {
            var s = String.UnicodeScalarView()
            for _ in 0..<Int(rng.next() % 40) {
                let pool = pools[Int(rng.next() % UInt64(pools.count))]
                s.append(Unicode.Scalar(pool[Int(rng.next() % UInt64(pool.count))])!)
            }
            let text = String(s)
            #expect(Shared.tokenizer.canRepresent(text))
            let ids = Shared.tokenizer.encode(text)
            #expect(Shared.tokenizer.decode(ids) == text, "round trip failed for \(text.debugDescription)")
        }
    }

    @Test("bytes without a token are dropped, as llama.cpp does")
    func unrepresentable() {
        #expect(!Shared.tokenizer.canRepresent("a\u{4}b"))
        #expect(Shared.tokenizer.decode(Shared.tokenizer.encode("a\u{4}b")) == "ab")
    }

    @Test("pre-tokenizer splits digits one by one and keeps the last space for the next word")
    func preTokenizer() {
        let p = PreTokenizer()
        let text = "ab  cd 123\t\t|>"
        let pieces = p.split(text).map { String(decoding: Array(text.utf8)[$0], as: UTF8.self) }
        #expect(pieces == ["ab", " ", " cd", " ", "1", "2", "3", "\t", "\t", "|>"])
    }
}

/// A small deterministic generator so property tests are reproducible.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
