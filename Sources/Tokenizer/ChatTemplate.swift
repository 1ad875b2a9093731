/// One message of a chat conversation.
public struct ChatMessage: Sendable, Equatable {
    public var role: String
    public var content: String

    public init(role: String, content: String) {
        self.role = role
        self.content = content
    }
}

/// Renders the ChatML format the model's template describes.
///
/// GGUF stores the template as Jinja; rather than run Jinja, we recognise ChatML
/// and take its default system prompt from the template text.
public struct ChatTemplate: Sendable {
    public let defaultSystemPrompt: String?

    /// A ChatML template, or nil when the model's template is something else.
    public init?(template: String?) {
        guard let template, template.contains("<|im_start|>") else { return nil }
        let marker = "<|im_start|>system\\n"
        let markerLiteral = "<|im_start|>system\n"
        if let r = template.range(of: markerLiteral) ?? template.range(of: marker),
           let end = template.range(of: "<|im_end|>", range: r.upperBound..<template.endIndex) {
            defaultSystemPrompt = String(template[r.upperBound..<end.lowerBound])
        } else {
            defaultSystemPrompt = nil
        }
    }

    /// The prompt text, ending with the assistant turn opened when `addGenerationPrompt`.
    public func render(_ messages: [ChatMessage], addGenerationPrompt: Bool = true) -> String {
        var out = ""
        if messages.first?.role != "system", let sys = defaultSystemPrompt {
            out += "<|im_start|>system\n\(sys)<|im_end|>\n"
        }
        for m in messages { out += "<|im_start|>\(m.role)\n\(m.content)<|im_end|>\n" }
        if addGenerationPrompt { out += "<|im_start|>assistant\n" }
        return out
    }
}
