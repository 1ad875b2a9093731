import Foundation

/// A field of a JSON document that is missing or has the wrong type, named by its path.
package struct JSONShapeError: Error, CustomStringConvertible, Sendable {
    package let path: String
    package let expected: String
    /// What was there instead; nil when the field is absent.
    package let found: String?

    package var description: String {
        if let found { return "\(path) is \(found), expected \(expected)" }
        return "\(path) is missing (expected \(expected))"
    }
}

/// A value parsed by `JSONSerialization` together with its path in the document, so that
/// readers on both sides of the wire can say exactly which field was missing or mistyped.
package struct JSONNode: @unchecked Sendable {
    /// nil when the field is absent.
    package let value: Any?
    package let path: String

    /// Wraps a value parsed elsewhere; `path` names it in errors.
    package init(_ value: Any?, path: String = "") {
        self.value = value
        self.path = path
    }

    /// Parses a document.
    /// - Throws: the parser's complaint, as a plain message.
    package static func parse(_ data: Data) throws -> JSONNode {
        JSONNode(try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]), path: "")
    }

    private static let boolType: AnyClass = type(of: NSNumber(value: true))

    private func child(_ name: String) -> String { path.isEmpty ? name : "\(path).\(name)" }

    /// A member; absent when this is not an object or lacks the key.
    package subscript(key: String) -> JSONNode {
        JSONNode((value as? [String: Any])?[key], path: child(key))
    }

    /// An element; absent when this is not an array or is too short.
    package subscript(index: Int) -> JSONNode {
        guard let a = value as? [Any], index >= 0, index < a.count else { return JSONNode(nil, path: "\(path)[\(index)]") }
        return JSONNode(a[index], path: "\(path)[\(index)]")
    }

    /// Absent or `null`.
    package var isNull: Bool { value == nil || value is NSNull }
    package var exists: Bool { value != nil }

    /// What the value is, for error messages.
    package var kind: String {
        switch value {
        case nil: "missing"
        case is NSNull: "null"
        case is String: "a string"
        case let n as NSNumber: type(of: n) == Self.boolType ? "a boolean" : "a number"
        case is [Any]: "an array"
        case is [String: Any]: "an object"
        default: "something else"
        }
    }

    private func mismatch(_ expected: String) -> JSONShapeError {
        JSONShapeError(path: path.isEmpty ? "the document" : path, expected: expected, found: value == nil ? nil : kind)
    }

    // Typed readers: the value, or an error naming the path, the expected type and what was there.

    package func string() throws(JSONShapeError) -> String {
        guard let s = value as? String else { throw mismatch("a string") }
        return s
    }

    package func double() throws(JSONShapeError) -> Double {
        guard let n = value as? NSNumber, type(of: n) != Self.boolType else { throw mismatch("a number") }
        return n.doubleValue
    }

    package func int() throws(JSONShapeError) -> Int {
        guard let n = value as? NSNumber, type(of: n) != Self.boolType, let i = Int(exactly: n.doubleValue) else { throw mismatch("an integer") }
        return i
    }

    package func bool() throws(JSONShapeError) -> Bool {
        guard let n = value as? NSNumber, type(of: n) == Self.boolType else { throw mismatch("a boolean") }
        return n.boolValue
    }

    package func array() throws(JSONShapeError) -> [JSONNode] {
        guard let a = value as? [Any] else { throw mismatch("an array") }
        return a.enumerated().map { JSONNode($0.element, path: "\(path)[\($0.offset)]") }
    }

    /// This node, when it is an object.
    package func object() throws(JSONShapeError) -> JSONNode {
        guard value is [String: Any] else { throw mismatch("an object") }
        return self
    }

    /// Members in key order (JSON objects are unordered; sorting keeps results stable).
    package func members() throws(JSONShapeError) -> [(key: String, value: JSONNode)] {
        guard let o = value as? [String: Any] else { throw mismatch("an object") }
        return o.keys.sorted().map { ($0, JSONNode(o[$0], path: child($0))) }
    }

    // Optional readers: nil when absent or null, an error when present with the wrong type.
    package func optionalString() throws(JSONShapeError) -> String? { isNull ? nil : try string() }
    package func optionalDouble() throws(JSONShapeError) -> Double? { isNull ? nil : try double() }
    package func optionalInt() throws(JSONShapeError) -> Int? { isNull ? nil : try int() }
    package func optionalBool() throws(JSONShapeError) -> Bool? { isNull ? nil : try bool() }
    package func optionalArray() throws(JSONShapeError) -> [JSONNode]? { isNull ? nil : try array() }
}

/// Serializes a dictionary built from JSON-compatible values, keys sorted so bodies are stable.
package func encodeJSON(_ object: Any) -> Data {
    // Callers only pass dictionaries of strings, numbers, booleans, arrays and NSNull.
    (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
}
