import Checks
import RPC

/// LSP's `DiagnosticSeverity`.
public enum DiagnosticSeverity: Int, Sendable {
    case error = 1, warning = 2, information = 3, hint = 4
}

extension Finding {
    /// The severity an editor shows: parser, compiler errors and failed contracts are errors,
    /// compiler warnings warnings; Sobelow by confidence (high, medium, low); Credo and the
    /// built-in rules by priority (10 and up a warning, else information); the formatter a hint.
    public var diagnosticSeverity: DiagnosticSeverity {
        switch source {
        case .syntax, .contract, .examples, .tests: return .error
        case .compiler: return message.hasPrefix("warning: ") ? .warning : .error
        case .sobelow:
            switch confidence {
            case "high": return .error
            case "medium": return .warning
            default: return .information
            }
        case .format: return .hint
        case .credo, .builtin: return (priority ?? 0) >= 10 ? .warning : .information
        }
    }

    /// The message without the compiler's "warning: " prefix, which the severity already says.
    var diagnosticMessage: String {
        message.hasPrefix("warning: ") ? String(message.dropFirst("warning: ".count)) : message
    }

    /// The finding as an LSP `Diagnostic` on `document`: `code` is the check id, `source` the
    /// tool (`credo`, `sobelow`, `compiler`, ...), the range exact to the word when the tool gave
    /// a column, else the line's text.
    public func diagnostic(in document: TextDocument) -> JSONValue {
        var o: [String: JSONValue] = [
            "range": document.range(line: line, column: column).json,
            "severity": .integer(Int64(diagnosticSeverity.rawValue)),
            "code": .string(check),
            "source": .string(source.rawValue),
            "message": .string(diagnosticMessage),
        ]
        if let cwe { o["data"] = .object(["cwe": .string(cwe)]) }
        return .object(o)
    }
}
