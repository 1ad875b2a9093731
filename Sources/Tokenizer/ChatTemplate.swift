/// One message of a chat conversation.
public struct ChatMessage: Sendable, Equatable {
    public var role: String
    public var content: String

    public init(role: String, content: String) {
        self.role = role
        self.content = content
    }

    public static func system(_ content: String) -> ChatMessage { ChatMessage(role: "system", content: content) }
    public static func user(_ content: String) -> ChatMessage { ChatMessage(role: "user", content: content) }
}

/// The chat markup families a GGUF's Jinja template can be recognised as.
public enum ChatFormat: String, Sendable, CaseIterable {
    /// `<|im_start|>role ... <|im_end|>` (SmolLM, Qwen, many fine-tunes).
    case chatML
    /// `<|start_header_id|>role<|end_header_id|> ... <|eot_id|>` (Llama 3).
    case llama3
    /// `<start_of_turn>user ... <end_of_turn>`, the assistant called "model", no system role (Gemma).
    case gemma
    /// `<|user|> ... <|end|>` (Phi-3).
    case phi3
    /// `[INST] ... [/INST]`, the system prompt folded into the first user turn (Llama 2, Mistral).
    case instruct
}

/// Renders prompts in the markup the model's template describes.
///
/// GGUF stores the template as Jinja; rather than run Jinja, we recognise the family by its
/// markers and take ChatML's default system prompt from the template text.
public struct ChatTemplate: Sendable {
    public let format: ChatFormat
    public let defaultSystemPrompt: String?

    /// The template's family, or nil when it is none we know.
    public init?(template: String?) {
        guard let template, let format = Self.recognise(template) else { return nil }
        self.format = format
        let marker = "<|im_start|>system\\n"
        let markerLiteral = "<|im_start|>system\n"
        if format == .chatML, let r = template.range(of: markerLiteral) ?? template.range(of: marker),
           let end = template.range(of: "<|im_end|>", range: r.upperBound..<template.endIndex) {
            defaultSystemPrompt = String(template[r.upperBound..<end.lowerBound])
        } else {
            defaultSystemPrompt = nil
        }
    }

    public init(format: ChatFormat, defaultSystemPrompt: String? = nil) {
        self.format = format
        self.defaultSystemPrompt = defaultSystemPrompt
    }

    /// The model's own template where we know its family, else ChatML, the commonest.
    public static func forModel(_ template: String?) -> ChatTemplate {
        ChatTemplate(template: template) ?? ChatTemplate(format: .chatML)
    }

    private static func recognise(_ t: String) -> ChatFormat? {
        if t.contains("<|start_header_id|>") { return .llama3 }
        if t.contains("<start_of_turn>") { return .gemma }
        if t.contains("<|im_start|>") { return .chatML }
        if t.contains("<|assistant|>") && t.contains("<|end|>") { return .phi3 }
        if t.contains("[INST]") { return .instruct }
        return nil
    }

    /// The prompt text, ending with the assistant turn opened when `addGenerationPrompt`; a
    /// conversation without a system message gets the template's default one, if any, unless
    /// `defaultSystem` is false.
    public func render(_ messages: [ChatMessage], addGenerationPrompt: Bool = true, defaultSystem: Bool = true) -> String {
        var messages = messages
        if defaultSystem, messages.first?.role != "system", let sys = defaultSystemPrompt { messages.insert(.system(sys), at: 0) }
        switch format {
        case .chatML:
            return messages.map { "<|im_start|>\($0.role)\n\($0.content)<|im_end|>\n" }.joined() + (addGenerationPrompt ? "<|im_start|>assistant\n" : "")
        case .llama3:
            return messages.map { "<|start_header_id|>\($0.role)<|end_header_id|>\n\n\($0.content)<|eot_id|>" }.joined()
                + (addGenerationPrompt ? "<|start_header_id|>assistant<|end_header_id|>\n\n" : "")
        case .phi3:
            return messages.map { "<|\($0.role)|>\n\($0.content)<|end|>\n" }.joined() + (addGenerationPrompt ? "<|assistant|>\n" : "")
        case .gemma:
            return Self.foldingSystem(messages).map { "<start_of_turn>\($0.role == "assistant" ? "model" : $0.role)\n\($0.content)<end_of_turn>\n" }.joined()
                + (addGenerationPrompt ? "<start_of_turn>model\n" : "")
        case .instruct:
            return Self.foldingSystem(messages).map { $0.role == "assistant" ? " \($0.content)</s>" : "[INST] \($0.content) [/INST]" }.joined()
        }
    }

    /// For formats without a system role: the system text opens the first user turn.
    private static func foldingSystem(_ messages: [ChatMessage]) -> [ChatMessage] {
        guard let first = messages.first, first.role == "system" else { return messages }
        var rest = Array(messages.dropFirst())
        if let i = rest.firstIndex(where: { $0.role == "user" }) {
            rest[i].content = first.content + "\n\n" + rest[i].content
            return rest
        }
        return [.user(first.content)] + rest
    }
}
