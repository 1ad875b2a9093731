/// A GGUF file that cannot be used, with the file and the exact problem.
public struct GGUFError: Error, CustomStringConvertible, Equatable, Sendable {
    /// What kind of problem the file has.
    public enum Code: String, Sendable {
        case unreadable, badMagic, unsupportedVersion, truncated, corrupt, unsupportedTensorType, unsupportedArchitecture, missingKey, missingTensor
    }
    public let code: Code
    public let path: String
    public let detail: String

    public init(_ code: Code, path: String, _ detail: String) {
        self.code = code
        self.path = path
        self.detail = detail
    }

    public var description: String { "\(path): \(detail)" }
}
