import Checks
import Foundation

/// A function a task names, as `name/arity`.
public struct FunctionRef: Sendable, Codable, Hashable, CustomStringConvertible {
    public var name: String
    public var arity: Int
    public var description: String { "\(name)/\(arity)" }
}

/// A function head the task spells out with its parameter names (`sum_squares(list)`).
public struct FunctionHead: Sendable, Codable, Equatable {
    public var name: String
    public var parameters: [String]
    /// Each parameter's default as Elixir source (`opts \\ []`), nil where it has none.
    public var defaults: [String?]

    public init(name: String, parameters: [String], defaults: [String?]? = nil) {
        self.name = name
        self.parameters = parameters
        self.defaults = defaults ?? parameters.map { _ in nil }
    }

    /// `name(a, opts \\ [])`, with the parameters in `unread` written `_a`.
    public func signature(unread: Set<String> = []) -> String {
        let written = zip(parameters, defaults).map { p, d in (unread.contains(p) ? "_" + p : p) + (d.map { " \\\\ " + $0 } ?? "") }
        return "\(name)(\(written.joined(separator: ", ")))"
    }

    /// `opts \\ []` as a name and a default, `list` as a name.
    static func parameter(_ text: String) -> (name: String, defaultValue: String?)? {
        let parts = text.components(separatedBy: "\\\\")
        let name = parts[0].trimmingCharacters(in: .whitespaces)
        guard name.range(of: #"^[a-z_][a-z0-9_]*$"#, options: .regularExpression) != nil, parts.count <= 2 else { return nil }
        let value = parts.count == 2 ? parts[1].trimmingCharacters(in: .whitespaces) : nil
        return value == "" ? nil : (name, value)
    }
}

/// A function in the user's file whose body is still to be written (`def f(a, b) do` with an
/// empty or `# TODO` body): stub mode fills it in place.
public struct Stub: Sendable, Codable, Equatable {
    public var function: FunctionRef
    /// The file up to and including the stub's `def ... do`, without the line break after it: the
    /// model writes that, so an `end` right after it is seen as a stop.
    public var head: String
    /// The stub's closing `end` line and everything after it.
    public var tail: String
    /// The indentation of the `def` line.
    public var indent: String
}

/// What a task demands of a candidate, read from the task and the context: the module and the
/// functions it names, the stub to fill, the examples to run and the caller's tests.
public struct TaskContract: Sendable, Codable, Equatable {
    public var module: String?
    public var functions: [FunctionRef] = []
    public var stub: Stub?
    /// The head of the one function the task names, when it gives the parameters' names.
    public var head: FunctionHead?
    public var examples: [Example] = []
    /// ExUnit tests the caller supplied.
    public var tests: String?
    /// The struct a new module is to define, as the task describes it.
    public var structure: StructDefinition?
    /// Keyword options the task documents with their defaults.
    public var options: [DocumentedOption] = []

    public init(module: String? = nil, functions: [FunctionRef] = [], stub: Stub? = nil, examples: [Example] = [], tests: String? = nil) {
        self.module = module
        self.functions = functions
        self.stub = stub
        self.examples = examples
        self.tests = tests
    }

    /// Whether anything can be run against a candidate.
    public var hasBehaviour: Bool { !examples.isEmpty || tests != nil }

    /// Reads the contract from a task and the code it refers to.
    public static func parse(task: String, context: String? = nil) -> TaskContract {
        var contract = TaskContract()
        let context = context ?? ""
        contract.stub = findStub(in: context)
        // The context's module is the answer's only when a stub there is to be filled; otherwise it is code to use.
        contract.module = (contract.stub == nil ? nil : firstMatch(#"(?m)^\s*defmodule\s+([A-Z][\w.]*)\s+do"#, context))
            ?? firstMatch(#"(?i:module)\s+`?([A-Z][A-Za-z0-9_]*(?:\.[A-Z][A-Za-z0-9_]*)*)`?"#, task)
            ?? firstMatch(#"(?:^|[\s`(])([A-Z][A-Za-z0-9_]*(?:\.[A-Z][A-Za-z0-9_]*)*)\.[a-z_][A-Za-z0-9_]*[?!]?\("#, task)
        var functions: [FunctionRef] = []
        if let stub = contract.stub { functions.append(stub.function) }
        let text = task + "\n" + context
        // `name(a, b)` in a code span, after "function", or as a call in an example; `name/2`; `@spec name(...)`.
        for pattern in [#"`(?:[A-Z][\w.]*\.)?([a-z_][A-Za-z0-9_]*[?!]?)\(([^`]*)\)`"#,
                        #"(?i:function)\s+`?([a-z_][A-Za-z0-9_]*[?!]?)\(([^)]*)\)"#,
                        #"@spec\s+([a-z_][A-Za-z0-9_]*[?!]?)\((.*)\)\s*::"#] {
            for m in matches(pattern, text) where m.count == 3 {
                functions.append(FunctionRef(name: m[1], arity: arity(of: m[2])))
                let parameters = m[2].split(separator: ",").map { FunctionHead.parameter(String($0)) }
                if contract.head == nil, !m[2].isEmpty, parameters.allSatisfy({ $0 != nil }) {
                    contract.head = FunctionHead(name: m[1], parameters: parameters.map { $0!.name }, defaults: parameters.map { $0!.defaultValue })
                }
            }
        }
        for m in matches(#"(?:^|[\s`(])(?:[A-Z][\w.]*\.)?([a-z_][A-Za-z0-9_]*[?!]?)/(\d+)\b"#, text) where m.count == 3 {
            functions.append(FunctionRef(name: m[1], arity: Int(m[2]) ?? 0))
        }
        contract.examples = examples(in: task, module: contract.module)
        // A stub's file defines its own structs; a new module defines the one the task describes.
        contract.structure = contract.stub == nil ? StructDefinition.parse(task: task) : nil
        contract.options = DocumentedOption.all(in: task)
        if let module = contract.module {
            let prefix = module + "."
            for e in contract.examples where e.expression.hasPrefix(prefix) {
                let call = e.expression.dropFirst(prefix.count)
                if let open = call.firstIndex(of: "("), let close = matchingParen(call, open) {
                    functions.append(FunctionRef(name: String(call[..<open]), arity: arity(of: String(call[call.index(after: open)..<close]))))
                }
            }
        }
        var seen = Set<FunctionRef>()
        contract.functions = functions.filter { !["def", "defp", "if", "fn", "case"].contains($0.name) && seen.insert($0).inserted }
        if contract.functions.count != 1 || contract.head.map({ FunctionRef(name: $0.name, arity: $0.parameters.count) }) != contract.functions.first {
            contract.head = nil
        }
        return contract
    }

    /// The findings of a candidate that does not define what the task names.
    /// - Parameter functions: the candidate's public functions as `Module.name/arity`.
    public func problems(modules: [String], functions: [String]) -> [Finding] {
        var out: [Finding] = []
        if let module, !modules.contains(module) {
            out.append(Finding(source: .contract, check: "Contract.MissingModule", line: 1,
                               message: "the task names the module `\(module)`, which the code does not define" + (modules.isEmpty ? "" : " (it defines \(modules.map { "`\($0)`" }.joined(separator: ", ")))")))
        }
        let defined = Set(functions)
        for f in self.functions {
            let found = module.map { defined.contains("\($0).\(f)") } ?? defined.contains { $0.hasSuffix(".\(f)") }
            if !found {
                out.append(Finding(source: .contract, check: "Contract.MissingFunction", line: 1,
                                   message: "the task names the function `\(f)`, which \(module.map { "`\($0)`" } ?? "the code") does not define as a public function"))
            }
        }
        return out
    }

    // MARK: - Reading the text

    /// `iex>` lines with their results, `expr == value`, `expr #=> value`, and "Example: f(x) returns y".
    static func examples(in task: String, module: String?) -> [Example] {
        let lines = task.components(separatedBy: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        var out: [Example] = []
        var i = 0
        while i < lines.count {
            let line = lines[i]
            if line.hasPrefix("iex>") {
                var expression = String(line.dropFirst(4)).trimmingCharacters(in: .whitespaces)
                i += 1
                while i < lines.count, lines[i].hasPrefix("...>") {
                    expression += "\n" + lines[i].dropFirst(4).trimmingCharacters(in: .whitespaces)
                    i += 1
                }
                var expected: [String] = []
                while i < lines.count, !lines[i].isEmpty, !lines[i].hasPrefix("iex>"), !lines[i].hasPrefix("```") {
                    expected.append(lines[i])
                    i += 1
                }
                if !expected.isEmpty { out.append(Example(expression: qualify(expression, module), expected: expected.joined(separator: "\n"))) }
                continue
            }
            let plain = line.trimmingCharacters(in: CharacterSet(charactersIn: "`-* "))
            for (separator, isPhrase) in [(" == ", false), (" #=> ", false), (" returns ", true), (" should return ", true), (" gives ", true)] {
                guard let r = plain.range(of: separator) else { continue }
                var lhs = String(plain[..<r.lowerBound]).trimmingCharacters(in: .whitespaces)
                var rhs = String(plain[r.upperBound...]).trimmingCharacters(in: CharacterSet(charactersIn: " .`"))
                if isPhrase {
                    // "Example: f(x) returns y" names a call before the verb.
                    if let colon = lhs.range(of: ":", options: .backwards) { lhs = String(lhs[colon.upperBound...]).trimmingCharacters(in: .whitespaces) }
                    lhs = lhs.trimmingCharacters(in: CharacterSet(charactersIn: "`"))
                    rhs = rhs.components(separatedBy: CharacterSet(charactersIn: "`")).first ?? rhs
                }
                guard looksLikeCall(lhs), !rhs.isEmpty, looksLikeValue(rhs) else { continue }
                out.append(Example(expression: qualify(lhs, module), expected: rhs))
                break
            }
            i += 1
        }
        return out
    }

    /// A bare call `f(x)` becomes `Module.f(x)`; a call on another module name keeps it.
    private static func qualify(_ expression: String, _ module: String?) -> String {
        guard let module, let first = expression.first, first.isLowercase || first == "_",
              let open = expression.firstIndex(of: "("),
              expression[..<open].allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "?" || $0 == "!" }) else { return expression }
        return module + "." + expression
    }

    private static func looksLikeCall(_ s: String) -> Bool {
        s.range(of: #"^(?:[A-Z][\w.]*\.)?[a-z_][A-Za-z0-9_]*[?!]?\(.*\)$"#, options: .regularExpression) != nil
    }

    /// Elixir literals and data, not prose ("true", "[1, 2]", "{:ok, 3}", "\"abc\"", "-4.5", ":atom", "nil").
    private static func looksLikeValue(_ s: String) -> Bool {
        s.range(of: #"^(?:-?\d[\d_.e]*|true|false|nil|:[a-z_]\w*[?!]?|"[^"]*"|'[^']*'|[\[{%].*[\]}]|~[a-zA-Z].*)$"#, options: .regularExpression) != nil
    }

    private static func findStub(in context: String) -> Stub? {
        let lines = context.components(separatedBy: "\n")
        for (i, line) in lines.enumerated() {
            guard let m = matches(#"^(\s*)def\s+([a-z_][A-Za-z0-9_]*[?!]?)(?:\((.*)\))?\s+do\s*$"#, line).first, m.count == 4 else { continue }
            let indent = m[1]
            var j = i + 1
            while j < lines.count {
                let t = lines[j].trimmingCharacters(in: .whitespaces)
                if t.isEmpty || t.hasPrefix("#") { j += 1; continue }
                break
            }
            guard j < lines.count, lines[j] == indent + "end" || lines[j].trimmingCharacters(in: .whitespaces) == "end" && lines[j].hasPrefix(indent) else { continue }
            let head = lines[...i].joined(separator: "\n")
            let tail = lines[j...].joined(separator: "\n")
            return Stub(function: FunctionRef(name: m[2], arity: arity(of: m[3])), head: head, tail: tail, indent: indent)
        }
        return nil
    }

    /// Top-level arguments of a parameter or argument list.
    static func arity(of arguments: String) -> Int {
        // A binary's bytes are one argument: `<<200, 100>>` nests like brackets.
        let trimmed = arguments.trimmingCharacters(in: .whitespaces)
            .replacingOccurrences(of: "<<", with: "(").replacingOccurrences(of: ">>", with: ")")
        guard !trimmed.isEmpty else { return 0 }
        var depth = 0, count = 1
        var inString = false
        for c in trimmed {
            if c == "\"" { inString.toggle() }
            guard !inString else { continue }
            if "([{".contains(c) { depth += 1 }
            if ")]}".contains(c) { depth -= 1 }
            if c == ",", depth == 0 { count += 1 }
        }
        return count
    }

    private static func matchingParen(_ s: Substring, _ open: Substring.Index) -> Substring.Index? {
        var depth = 0
        for i in s[open...].indices {
            if s[i] == "(" { depth += 1 }
            if s[i] == ")" { depth -= 1; if depth == 0 { return i } }
        }
        return nil
    }

    static func firstMatch(_ pattern: String, _ text: String) -> String? {
        matches(pattern, text).first.flatMap { $0.count > 1 ? $0[1] : nil }
    }

    static func matches(_ pattern: String, _ text: String) -> [[String]] {
        guard let re = try? NSRegularExpression(pattern: pattern) else { return [] }
        let ns = text as NSString
        return re.matches(in: text, range: NSRange(location: 0, length: ns.length)).map { m in
            (0..<m.numberOfRanges).map { m.range(at: $0).location == NSNotFound ? "" : ns.substring(with: m.range(at: $0)) }
        }
    }
}
