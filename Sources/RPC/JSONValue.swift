import Foundation

/// Any JSON value, Sendable and Codable, for protocol messages whose shape varies.
///
/// Integers are kept apart from other numbers so they come back exactly as sent: a Double
/// rounds past 2^53, which would change a request id. `.integer(n)` and `.number(Double(n))`
/// are equal and hash alike, so either spelling works as a key.
public enum JSONValue: Sendable, Codable, Hashable {
    case null
    case bool(Bool)
    /// A number with a fraction, or an integer too large for 64 bits.
    case number(Double)
    /// An integer that fits in 64 bits, exactly.
    case integer(Int64)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        // Int64 first: the decoder reads its digits exactly, where Double would round them.
        else if let i = try? c.decode(Int64.self) { self = .integer(i) }
        else if let n = try? c.decode(Double.self) { self = .number(n) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([JSONValue].self) { self = .array(a) }
        else { self = .object(try c.decode([String: JSONValue].self)) }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case .bool(let b): try c.encode(b)
        case .number(let n):
            if n == n.rounded(), abs(n) < 1e15 { try c.encode(Int64(n)) } else { try c.encode(n) }
        case .integer(let i): try c.encode(i)
        case .string(let s): try c.encode(s)
        case .array(let a): try c.encode(a)
        case .object(let o): try c.encode(o)
        }
    }

    public static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case (.bool(let x), .bool(let y)): return x == y
        case (.number(let x), .number(let y)): return x == y
        case (.integer(let x), .integer(let y)): return x == y
        case (.integer(let x), .number(let y)), (.number(let y), .integer(let x)): return Int64(exactly: y) == x
        case (.string(let x), .string(let y)): return x == y
        case (.array(let x), .array(let y)): return x == y
        case (.object(let x), .object(let y)): return x == y
        default: return false
        }
    }

    public func hash(into h: inout Hasher) {
        switch self {
        case .null: h.combine(0)
        case .bool(let b): h.combine(1); h.combine(b)
        case .number(let n):
            // Hashed as the integer it equals, if it equals one (see ==).
            if let i = Int64(exactly: n) { h.combine(2); h.combine(i) } else { h.combine(3); h.combine(n) }
        case .integer(let i): h.combine(2); h.combine(i)
        case .string(let s): h.combine(4); h.combine(s)
        case .array(let a): h.combine(5); h.combine(a)
        case .object(let o): h.combine(6); h.combine(o)
        }
    }

    public subscript(key: String) -> JSONValue? {
        if case .object(let o) = self { return o[key] }
        return nil
    }

    public var string: String? { if case .string(let s) = self { return s }; return nil }
    /// The number as an integer, when it is one and fits (1e19 does not: nil, not a trap).
    public var int: Int? {
        switch self {
        case .integer(let i): return Int(exactly: i)
        case .number(let n): return Int(exactly: n)
        default: return nil
        }
    }
    public var double: Double? {
        switch self {
        case .integer(let i): return Double(i)
        case .number(let n): return n
        default: return nil
        }
    }
    public var bool: Bool? { if case .bool(let b) = self { return b }; return nil }

    /// Converts any Encodable value (results) into a JSONValue.
    public static func encode<T: Encodable>(_ value: T) throws -> JSONValue {
        try JSONDecoder().decode(JSONValue.self, from: JSONEncoder().encode(value))
    }
}
