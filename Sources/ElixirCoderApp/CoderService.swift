import Checks
import Clarification
import ElixirCoderCore
import Foundation
import Pipeline
import RPC
import Telemetry

/// The requests a server answers, whatever carries them (JSON-RPC on stdio, HTTP): `generate`,
/// `check`, `explain`, `clarify` and `answerClarification`, each read from the same JSON
/// parameters and answered with the same JSON result, through the one generation setup.
public struct CoderService: Sendable {
    /// The setup, loaded when first asked for.
    private let setup: @Sendable () async throws -> GenerationSetup
    private let checker: CheckerPool?
    private let sessions: ClarificationSessions
    /// The audit figures; generate requests are counted here.
    public let audit: AuditService
    /// What a missing parameter's name is prefixed with in messages: `params.` where the fields
    /// sit in a JSON-RPC request's `params`, nothing where they are the whole body.
    private let fieldPrefix: String

    /// Code larger than this is refused by `check` and `explain`.
    public static let maxCodeBytes = 1 << 20

    public init(setup: @escaping @Sendable () async throws -> GenerationSetup, checker: CheckerPool?, audit: AuditService,
                sessions: ClarificationSessions = ClarificationSessions(), fieldPrefix: String = "") {
        self.setup = setup
        self.checker = checker
        self.audit = audit
        self.sessions = sessions
        self.fieldPrefix = fieldPrefix
    }

    /// `generate`: `task` and the optional fields of `generateOptions`; the result as `GenerateResult` encodes it.
    /// - Parameters:
    ///   - command: the name the run log records.
    ///   - progress: called with each progress line.
    ///   - onToken: called with streamed text when the caller wants it.
    public func generate(_ params: JSONValue, command: String = "serve", progress: @escaping @Sendable (String) -> Void = { _ in },
                         onToken: (@Sendable (Int, Int, LiveDelta) -> Void)? = nil) async throws -> GenerateResult {
        let started = Date()
        let task = try required(params, "task", method: "generate", as: Self.nonEmpty, "a non-empty string")
        let setup = try await self.setup()
        let options = try Self.generateOptions(params, setup: setup)
        let result: GenerateResult
        do {
            result = try await setup.generate(task: task, options: options, progress: progress, onToken: onToken)
        } catch let error as PromptTooLong {
            audit.record(nil, seconds: Date().timeIntervalSince(started))
            throw ServiceError(.invalidParams, error.message)
        } catch {
            audit.record(nil, seconds: Date().timeIntervalSince(started))
            throw error
        }
        audit.record(result, seconds: Date().timeIntervalSince(started))
        try Task.checkCancellation()
        if let path = setup.writeRunLog(command: command, started: started, results: [result], timings: result.timings) {
            Stderr.print("run log: \(path.path)")
        }
        return result
    }

    /// `check`: `code`; `{"clean", "findings"}`.
    public func check(_ params: JSONValue) async throws -> JSONValue {
        let code = try code(params, method: "check")
        guard let pool = checker else { throw ServiceError(.unavailable, "the Elixir checker is unavailable") }
        let findings = try await pool.findings(in: code)
        return .object(["clean": .bool(findings.isEmpty), "findings": try JSONValue.encode(findings)])
    }

    /// `explain`: `code`, optional `line`, `check` and `model`; the explanations.
    public func explain(_ params: JSONValue) async throws -> JSONValue {
        let code = try code(params, method: "explain")
        var line: Int?
        if let v = params["line"] { guard let n = v.int, n >= 1 else { throw ServiceError(.invalidParams, "line must be a positive integer") }; line = n }
        let check = try Self.optional(params, "check", as: \.string, "a check id such as DOS.StringToAtom")
        let useModel = try Self.optional(params, "model", as: \.bool, "a boolean") ?? true
        let setup = try await self.setup()
        guard let explainer = try setup.explainer(useModel: useModel) else {
            throw ServiceError(.unavailable, "the retrieval index is unavailable; run elixir-coder index build")
        }
        return try JSONValue.encode(try await explainer.explainAll(code: code, line: line, check: check))
    }

    /// `clarify`: `task`, optional `samples`; the analysis with `id` and `question` when one is asked.
    public func clarify(_ params: JSONValue) async throws -> JSONValue {
        let task = try required(params, "task", method: "clarify", as: Self.nonEmpty, "a non-empty string")
        var settings = ClarifySettings()
        if let v = params["samples"] {
            guard let n = v.int, (2...16).contains(n) else { throw ServiceError(.invalidParams, "samples must be an integer from 2 to 16") }
            settings.samples = n
        }
        let setup = try await self.setup()
        let (pending, analysis) = try await setup.clarifier(settings).askClarification(task: task, sessions: sessions)
        guard case .object(var o) = try JSONValue.encode(analysis) else { return .null }
        o["id"] = pending.map { .string($0.id) } ?? .null
        o["question"] = try pending.map { try JSONValue.encode($0.question) } ?? .null
        return .object(o)
    }

    /// `answerClarification`: `id` (from `clarify`), `answer` (an option number or text) and the
    /// optional fields of `generateOptions`; the task with the answer folded in is generated.
    public func answerClarification(_ params: JSONValue) async throws -> GenerateResult {
        let id = try required(params, "id", method: "answerClarification", as: \.string, "the id clarify returned")
        let answer = try required(params, "answer", method: "answerClarification", as: Self.nonEmpty, "an option number or text")
        let setup = try await self.setup()
        let options = try Self.generateOptions(params, setup: setup)
        do {
            return try await Clarifier.answerClarification(id: id, answer: answer, sessions: sessions) { task in
                try await setup.generate(task: task, options: options)
            }
        } catch let e as ClarificationError {
            throw ServiceError(.invalidParams, e.description)
        }
    }

    /// Generate options for a request: the setup's (config file, environment, gate, grammar),
    /// then the request's fields. `"gate": false` turns the confidence gate off for this request,
    /// as `--no-gate` does.
    public static func generateOptions(_ params: JSONValue, setup: GenerationSetup) throws -> GenerateOptions {
        var o = try setup.options()
        func integer(_ name: String, _ range: ClosedRange<Int>) throws(ServiceError) -> Int? {
            guard let v = params[name] else { return nil }
            guard let n = v.int, range.contains(n) else {
                throw ServiceError(.invalidParams, range.upperBound == .max ? "\(name) must be a non-negative integer" : "\(name) must be an integer from \(range.lowerBound) to \(range.upperBound)")
            }
            return n
        }
        o.candidates = try integer("candidates", 1...16) ?? o.candidates
        o.maxAttempts = try integer("maxAttempts", 1...10) ?? o.maxAttempts
        o.maxTokens = try integer("maxTokens", 1...4096) ?? o.maxTokens
        if let seed = try integer("seed", 0...Int.max) { o.sampling.seed = UInt64(seed) }
        if let v = params["temperature"] {
            guard let t = v.double, (0...2).contains(t) else { throw ServiceError(.invalidParams, "temperature must be a number from 0 to 2") }
            o.sampling.temperature = Float(t)
        }
        o.context = try optional(params, "context", as: \.string, "a string of Elixir code") ?? o.context
        o.tests = try optional(params, "tests", as: \.string, "a string of ExUnit test code") ?? o.tests
        o.runExamples = try optional(params, "runExamples", as: \.bool, "a boolean") ?? o.runExamples
        o.earlyStop = try optional(params, "earlyStop", as: \.bool, "a boolean") ?? o.earlyStop
        if try optional(params, "gate", as: \.bool, "a boolean") == false { o.gating = nil }
        return o
    }

    /// An optional parameter of one type: absent is nil, anything else of the wrong type is refused.
    public static func optional<T>(_ params: JSONValue, _ name: String, as read: (JSONValue) -> T?, _ expected: String) throws(ServiceError) -> T? {
        guard let v = params[name] else { return nil }
        guard let t = read(v) else { throw ServiceError(.invalidParams, "\(name) must be \(expected)") }
        return t
    }

    /// A parameter `method` cannot do without, read as `read` accepts it.
    private func required<T>(_ params: JSONValue, _ name: String, method: String, as read: (JSONValue) -> T?, _ expected: String) throws(ServiceError) -> T {
        guard let value = params[name].flatMap(read) else { throw ServiceError(.invalidParams, "\(method) needs \(fieldPrefix)\(name), \(expected)") }
        return value
    }

    /// A string with at least one character.
    private static func nonEmpty(_ value: JSONValue) -> String? {
        value.string.flatMap { $0.isEmpty ? nil : $0 }
    }

    /// The `code` parameter, at most `maxCodeBytes`.
    private func code(_ params: JSONValue, method: String) throws(ServiceError) -> String {
        let code = try required(params, "code", method: method, as: \.string, "a string")
        guard code.utf8.count <= Self.maxCodeBytes else { throw ServiceError(.invalidParams, "code is larger than 1 MiB") }
        return code
    }
}
