import GGUF

/// Byte-level BPE tokenizer read from a GGUF file's `tokenizer.ggml.*` metadata.
public struct Tokenizer: Sendable {
    /// How llama.cpp classifies a vocabulary entry.
    public enum TokenKind: Int, Sendable {
        case undefined = 0, normal = 1, unknown = 2, control = 3, userDefined = 4, unused = 5, byte = 6
    }

    /// Vocabulary entries as stored (byte-level spelling).
    public let tokens: [String]
    public let kinds: [TokenKind]
    /// Raw bytes each token stands for; empty for control tokens.
    public let tokenBytes: [[UInt8]]
    /// Tokens that end a generation.
    public let eosTokens: Set<Int>
    public let bosToken: Int?
    public let addBOS: Bool
    /// The chat template text from the model, if any.
    public let chatTemplate: String?

    let preTokenizer: PreTokenizer
    let merges: MergeTable
    /// Single-byte token for each byte value.
    let byteTokens: [Int32]
    /// Control and user-defined tokens by their text, for `parseSpecial` encoding.
    let specialTokens: [(text: [UInt8], id: Int)]

    public var vocabularySize: Int { tokens.count }

    public init(gguf: GGUFFile) throws {
        let model = (try? gguf.string("tokenizer.ggml.model")) ?? "missing"
        guard model == "gpt2" else {
            throw GGUFError(.unsupportedArchitecture, path: gguf.path, "tokenizer model '\(model)' is not supported (only byte-level BPE, 'gpt2')")
        }
        let pre = (try? gguf.string("tokenizer.ggml.pre")) ?? "default"
        let tokens = try gguf.strings("tokenizer.ggml.tokens")
        let types = (try? gguf.ints("tokenizer.ggml.token_type")) ?? Array(repeating: 1, count: tokens.count)
        let merges = try gguf.strings("tokenizer.ggml.merges")
        var eos: Set<Int> = []
        if let e = gguf.metadata["tokenizer.ggml.eos_token_id"]?.intValue { eos.insert(e) }
        if let e = gguf.metadata["tokenizer.ggml.eot_token_id"]?.intValue { eos.insert(e) }
        try self.init(
            tokens: tokens, kinds: types.map { TokenKind(rawValue: $0) ?? .normal }, merges: merges,
            preTokenizer: pre, eos: eos,
            bos: gguf.metadata["tokenizer.ggml.bos_token_id"]?.intValue,
            addBOS: gguf.metadata["tokenizer.ggml.add_bos_token"]?.boolValue ?? false,
            chatTemplate: gguf.metadata["tokenizer.chat_template"]?.stringValue,
            path: gguf.path)
    }

    /// Builds a tokenizer from vocabulary data (also used by tests with small vocabularies).
    public init(tokens: [String], kinds: [TokenKind], merges: [String], preTokenizer: String = "smollm",
                eos: Set<Int>, bos: Int? = nil, addBOS: Bool = false, chatTemplate: String? = nil, path: String = "<memory>") throws {
        guard tokens.count == kinds.count else {
            throw GGUFError(.corrupt, path: path, "\(tokens.count) tokens but \(kinds.count) token types")
        }
        self.tokens = tokens
        self.kinds = kinds
        self.bosToken = bos
        self.addBOS = addBOS
        self.chatTemplate = chatTemplate
        self.preTokenizer = PreTokenizer(splitDigits: ["smollm", "llama3", "qwen2", "deepseek-llm"].contains(preTokenizer))

        var ids: [String: Int32] = [:]
        ids.reserveCapacity(tokens.count)
        var bytes: [[UInt8]] = []
        bytes.reserveCapacity(tokens.count)
        var special: [(text: [UInt8], id: Int)] = []
        for (i, t) in tokens.enumerated() {
            ids[t] = Int32(i)
            switch kinds[i] {
            case .control:
                bytes.append([])
                special.append((Array(t.utf8), i))
            case .userDefined:
                bytes.append(Array(t.utf8))
                special.append((Array(t.utf8), i))
            default:
                bytes.append(ByteLevel.bytes(ofToken: t) ?? Array(t.utf8))
            }
        }
        self.tokenBytes = bytes
        // Longest first, so a special token that prefixes another never wins wrongly.
        self.specialTokens = special.sorted { $0.text.count > $1.text.count }
        self.eosTokens = eos.filter { $0 < tokens.count }

        // Some vocabularies lack a few byte tokens (SmolLM2 has none for 0x04, 0x06, 0x13,
        // 0x14, 0x16, 0x1D); like llama.cpp we drop such bytes rather than fail.
        var byteTokens = [Int32](repeating: -1, count: 256)
        for b in 0..<256 { byteTokens[b] = ids[String(ByteLevel.scalarForByte[b])] ?? -1 }
        guard byteTokens.filter({ $0 >= 0 }).count >= 128 else {
            throw GGUFError(.corrupt, path: path, "vocabulary lacks most single-byte tokens; not a byte-level BPE vocabulary")
        }
        self.byteTokens = byteTokens
        self.merges = try MergeTable(merges: merges, ids: ids, path: path)
    }

    /// Whether every byte of `text` has a token, so `decode(encode(text)) == text`.
    public func canRepresent(_ text: String) -> Bool {
        text.utf8.allSatisfy { byteTokens[Int($0)] >= 0 }
    }

    /// Token ids for `text`; bytes the vocabulary cannot spell are dropped (see `canRepresent`).
    /// - Parameter parseSpecial: recognise control tokens such as `<|im_start|>` written in the text.
    public func encode(_ text: String, parseSpecial: Bool = false) -> [Int] {
        var out: [Int] = []
        if addBOS, let bos = bosToken { out.append(bos) }
        let utf8 = Array(text.utf8)
        guard parseSpecial, !specialTokens.isEmpty else {
            encodePlain(utf8[...], into: &out)
            return out
        }
        var start = 0
        var i = 0
        while i < utf8.count {
            if utf8[i] == UInt8(ascii: "<"), let hit = specialTokens.first(where: { utf8[i...].starts(with: $0.text) }) {
                encodePlain(utf8[start..<i], into: &out)
                out.append(hit.id)
                i += hit.text.count
                start = i
            } else {
                i += 1
            }
        }
        encodePlain(utf8[start..<utf8.count], into: &out)
        return out
    }

    private func encodePlain(_ bytes: ArraySlice<UInt8>, into out: inout [Int]) {
        guard !bytes.isEmpty else { return }
        // The slice came from valid UTF-8 split at ASCII '<', so it is valid UTF-8 too.
        let text = String(decoding: bytes, as: UTF8.self)
        let base = bytes.startIndex
        var symbols: [Int32] = []
        for r in preTokenizer.split(text) {
            symbols.removeAll(keepingCapacity: true)
            for k in r {
                let t = byteTokens[Int(bytes[base + k])]
                if t >= 0 { symbols.append(t) }
            }
            merges.apply(&symbols)
            for s in symbols { out.append(Int(s)) }
        }
    }

    /// The raw bytes of a token sequence; control tokens contribute nothing.
    public func decodeBytes(_ ids: [Int]) -> [UInt8] {
        var out: [UInt8] = []
        for id in ids where id >= 0 && id < tokenBytes.count { out += tokenBytes[id] }
        return out
    }

    /// The text of a token sequence (invalid UTF-8 is replaced with U+FFFD).
    public func decode(_ ids: [Int]) -> String {
        String(decoding: decodeBytes(ids), as: UTF8.self)
    }

    /// A token's text for display: its bytes, or its name for control tokens.
    public func piece(_ id: Int) -> String {
        guard id >= 0 && id < tokens.count else { return "<invalid \(id)>" }
        if kinds[id] == .control { return tokens[id] }
        return String(decoding: tokenBytes[id], as: UTF8.self)
    }

    /// Whether a token is a control token (never produced from plain text).
    public func isControl(_ id: Int) -> Bool {
        id >= 0 && id < kinds.count && kinds[id] == .control
    }
}
