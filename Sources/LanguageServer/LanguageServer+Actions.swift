import Checks
import Clarification
import Explain
import Foundation
import Pipeline
import RPC

extension LanguageServer {
    /// A command a code action carries.
    static func command(_ title: String, _ command: Command, _ argument: [String: JSONValue]) -> JSONValue {
        .object(["title": .string(title), "command": .string(command.rawValue), "arguments": .array([.object(argument)])])
    }

    static func action(_ title: String, kind: String, command: JSONValue? = nil, edit: JSONValue? = nil, diagnostics: [JSONValue] = []) -> JSONValue {
        var o: [String: JSONValue] = ["title": .string(title), "kind": .string(kind)]
        if let command { o["command"] = command }
        if let edit { o["edit"] = edit }
        if !diagnostics.isEmpty { o["diagnostics"] = .array(diagnostics) }
        return .object(o)
    }

    /// A `WorkspaceEdit` replacing `range` of `document` (at its version, so a client whose
    /// buffer moved on refuses it rather than applying it in the wrong place).
    static func edit(_ document: TextDocument, _ range: TextRange, _ newText: String) -> JSONValue {
        .object(["documentChanges": .array([.object([
            "textDocument": .object(["uri": .string(document.uri), "version": .integer(Int64(document.version))]),
            "edits": .array([.object(["range": range.json, "newText": .string(newText)])]),
        ])])])
    }

    /// A comment line that reads like a task: at least three words after `#`.
    static func commentTask(_ line: Substring) -> String? {
        let t = line.trimmingCharacters(in: .whitespaces)
        guard t.hasPrefix("#") else { return nil }
        let text = t.drop { $0 == "#" }.trimmingCharacters(in: .whitespaces)
        return text.split(separator: " ").count >= 3 ? text : nil
    }

    /// `textDocument/codeAction`: for each finding in the range "Explain" and "Fix with
    /// ElixirCoder" (the formatter's own output for `Formatter`); on a stub "Implement with
    /// ElixirCoder"; on a selection or a comment that states a task "Generate code for this".
    func codeActions(_ params: JSONValue) async throws -> JSONValue {
        let doc = try document(params)
        guard let range = TextRange(params["range"]) else { throw RPCError(.invalidParams, "range needs start and end positions, start first") }
        let uri = JSONValue.string(doc.uri)
        var actions: [JSONValue] = []
        for hit in publishedFindings(doc.uri) where hit.range.start.line <= range.end.line && hit.range.end.line >= range.start.line {
            let f = hit.finding
            let diagnostic = f.diagnostic(in: doc)
            let at: [String: JSONValue] = ["uri": uri, "line": .integer(Int64(f.line)), "check": .string(f.check)]
            actions.append(Self.action("Explain \(f.check)", kind: "quickfix", command: Self.command("Explain", .explain, at), diagnostics: [diagnostic]))
            if f.source == .format {
                if let formatted = try await services.formatted(doc.text) {
                    let whole = TextRange(start: Position(line: 0, character: 0), end: Position(line: doc.lineCount, character: 0))
                    actions.append(Self.action("Format with ElixirCoder", kind: "quickfix", edit: Self.edit(doc, whole, formatted), diagnostics: [diagnostic]))
                }
            } else if f.source != .syntax {
                var args = at
                args["version"] = .integer(Int64(doc.version))
                actions.append(Self.action("Fix with ElixirCoder: \(f.check)", kind: "quickfix", command: Self.command("Fix", .fix, args), diagnostics: [diagnostic]))
            }
        }
        let lines = doc.text.components(separatedBy: "\n")
        if let site = FunctionSite.enclosing(range.start.line, in: lines), site.isStub(in: lines) {
            actions.append(Self.action("Implement \(site.name) with ElixirCoder", kind: "refactor.rewrite",
                                       command: Self.command("Implement", .implement, ["uri": uri, "line": .integer(Int64(site.defLine))])))
        }
        if range.start != range.end, !doc.text(in: range).trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            actions.append(Self.action("Generate code for this", kind: "refactor.rewrite", command: Self.command("Generate", .generate, ["uri": uri, "range": range.json])))
        } else if Self.commentTask(doc.line(range.start.line)) != nil {
            actions.append(Self.action("Generate code for this", kind: "refactor.rewrite",
                                       command: Self.command("Generate", .generate, ["uri": uri, "line": .integer(Int64(range.start.line))])))
        }
        return .array(actions)
    }

    /// `workspace/executeCommand`: runs one of `Command` with its first argument (an object).
    func execute(_ params: JSONValue) async throws -> JSONValue {
        guard let name = params["command"]?.string else { throw RPCError(.invalidParams, "executeCommand needs command, a string") }
        guard let command = Command(rawValue: name) else {
            throw RPCError(.invalidParams, "no command '\(name)'; the commands are \(Command.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        var argument = JSONValue.object([:])
        if case .array(let a)? = params["arguments"], let first = a.first {
            guard case .object = first else { throw RPCError(.invalidParams, "\(name)'s argument must be an object") }
            argument = first
        }
        let token = params["workDoneToken"]
        switch command {
        case .generate: return try await generate(argument, token: token)
        case .implement: return try await implement(argument, token: token)
        case .fix: return try await fix(argument, token: token)
        case .explain: return try await explain(argument)
        case .clarify: return try await clarify(argument, token: token)
        }
    }

    /// The 0-based line an argument names; -32602 when it is not one of `document`'s.
    private func line(_ argument: JSONValue, _ key: String = "line", in document: TextDocument, oneBased: Bool = false) throws -> Int {
        guard let n = argument[key]?.int, (oneBased ? 1...document.lineCount : 0...(document.lineCount - 1)).contains(n) else {
            throw RPCError(.invalidParams, "\(key) must be a line of the document (\(oneBased ? "1-based" : "0-based"))")
        }
        return n
    }

    /// Generates for `task` with `options`, reporting progress; the result as JSON and as a value.
    private func generateCode(_ title: String, task: String, context: String?, token: JSONValue?, options: JSONValue) async throws -> GenerateResult {
        let setup = try await services.setup()
        var o = try setup.options()
        o.context = context
        if let n = options["candidates"]?.int, (1...16).contains(n) { o.candidates = n }
        if let n = options["maxAttempts"]?.int, (1...10).contains(n) { o.maxAttempts = n }
        if let n = options["maxTokens"]?.int, (1...4096).contains(n) { o.maxTokens = n }
        if let s = options["seed"]?.int, s >= 0 { o.sampling.seed = UInt64(s) }
        let options = o
        return try await withProgress(title, token: token) { report in
            try await setup.generate(task: task, options: options, progress: report)
        }
    }

    /// Asks the client to apply `edit`; whether it did.
    private func apply(_ label: String, _ edit: JSONValue) async throws -> Bool {
        let answer = try await server.request("workspace/applyEdit", .object(["label": .string(label), "edit": edit]))
        return answer["applied"]?.bool ?? false
    }

    private func summary(_ r: GenerateResult, applied: Bool?) throws -> JSONValue {
        guard case .object(var o) = try JSONValue.encode(r) else { return .null }
        o["applied"] = applied.map { .bool($0) } ?? .null
        return .object(o)
    }

    /// `elixirCoder.generate` {uri?, task?, range?, line?}: generates for the task (given, the
    /// selected text, or the comment on `line`) with the document as context, and inserts the
    /// code below the range or line.
    private func generate(_ argument: JSONValue, token: JSONValue?) async throws -> JSONValue {
        let doc = try argument["uri"].map { _ in try document(argument) }
        var task = argument["task"]?.string
        var below: Int?
        if let doc {
            if let range = TextRange(argument["range"]) {
                task = task ?? doc.text(in: range)
                below = min(range.end.character == 0 && range.end.line > range.start.line ? range.end.line - 1 : range.end.line, doc.lineCount - 1)
            } else if argument["line"] != nil {
                let n = try line(argument, in: doc)
                task = task ?? Self.commentTask(doc.line(n))
                below = n
            }
        }
        guard let task, !task.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw RPCError(.invalidParams, "generate needs a task: arguments[0].task, a range of the document, or a line with a comment that states one")
        }
        let result = try await generateCode("Generating", task: task, context: doc?.text, token: token, options: argument)
        return try await insert(result, into: doc, below: below)
    }

    /// Inserts a result's code after line `below` of `document` (when both are given).
    private func insert(_ result: GenerateResult, into doc: TextDocument?, below: Int?) async throws -> JSONValue {
        guard let doc, let below, !result.code.isEmpty, result.status != .abstained else { return try summary(result, applied: nil) }
        let at = Position(line: below + 1, character: 0)
        let newText = below + 1 >= doc.lineCount ? "\n" + result.code : result.code.hasSuffix("\n") ? result.code : result.code + "\n"
        let applied = try await apply("ElixirCoder: generate", Self.edit(doc, TextRange(start: at, end: at), newText))
        return try summary(result, applied: applied)
    }

    /// `elixirCoder.implement` {uri, line}: stub mode on the stub at `line`; its body is replaced
    /// only when the code compiled.
    private func implement(_ argument: JSONValue, token: JSONValue?) async throws -> JSONValue {
        let doc = try document(argument)
        let lines = doc.text.components(separatedBy: "\n")
        let at = try line(argument, in: doc)
        guard let site = FunctionSite.enclosing(at, in: lines), site.isStub(in: lines) else {
            throw RPCError(.invalidParams, "no function stub (def ... do with an empty or comment-only body) at that line")
        }
        return try await fill(site, of: doc, task: site.implementTask(in: lines), title: "Implementing \(site.name)", token: token, argument: argument) { _ in nil }
    }

    /// `elixirCoder.fix` {uri, line (1-based, as published), check}: rewrites the body of the
    /// function holding the finding in stub mode; applied only when the new code compiles and
    /// that check no longer fires there.
    private func fix(_ argument: JSONValue, token: JSONValue?) async throws -> JSONValue {
        let doc = try document(argument)
        let line1 = try line(argument, in: doc, oneBased: true)
        guard let check = argument["check"]?.string else { throw RPCError(.invalidParams, "fix needs check, the finding's code") }
        if check == "Formatter" {
            guard let formatted = try await services.formatted(doc.text) else { return .object(["applied": .bool(false), "message": .string("already formatted")]) }
            let whole = TextRange(start: Position(line: 0, character: 0), end: Position(line: doc.lineCount, character: 0))
            return .object(["applied": .bool(try await apply("ElixirCoder: format", Self.edit(doc, whole, formatted)))])
        }
        let finding = store.lastPublished(doc.uri)?.findings.first { $0.line == line1 && $0.check == check }
        let lines = doc.text.components(separatedBy: "\n")
        guard let site = FunctionSite.enclosing(line1 - 1, in: lines) else {
            throw RPCError(.invalidParams, "line \(line1) is not inside a multi-line def ... do ... end, which Fix rewrites")
        }
        let body = site.body(in: lines).joined(separator: "\n")
        let task = site.implementTask(in: lines) + "\n\nThe previous body had this problem, which the new body must not have: `\(check)`: \(finding?.message ?? check).\nThe previous body was:\n```elixir\n\(body)\n```"
        let services = self.services
        return try await fill(site, of: doc, task: task, title: "Fixing \(check)", token: token, argument: argument) { newText in
            let left = try await services.diagnose(newText).filter { $0.check == check }
            return left.isEmpty ? nil : "the rewritten code still has \(check) (line \(left[0].line))"
        }
    }

    /// Generates `site`'s body in stub mode and replaces it in `doc` when the code compiled and
    /// `verify` (given the whole new text) finds nothing wrong.
    private func fill(_ site: FunctionSite, of doc: TextDocument, task: String, title: String, token: JSONValue?, argument: JSONValue,
                      verify: @escaping @Sendable (String) async throws -> String?) async throws -> JSONValue {
        let lines = doc.text.components(separatedBy: "\n")
        let result = try await generateCode(title, task: task, context: site.stubContext(in: lines), token: token, options: argument)
        guard result.evidence.compiled == true, let body = site.body(inGenerated: result.code) else {
            let why = result.problems.prefix(3).map { "\($0.check): \($0.message)" }.joined(separator: "; ")
            throw RPCError(.internalError, "no body that compiles was found (status \(result.status.rawValue)\(why.isEmpty ? "" : ": " + why)); the file is unchanged")
        }
        var newLines = lines
        newLines.replaceSubrange((site.defLine + 1)..<site.endLine, with: body)
        if let problem = try await verify(newLines.joined(separator: "\n")) {
            throw RPCError(.internalError, problem + "; the file is unchanged")
        }
        let range = TextRange(start: Position(line: site.defLine + 1, character: 0), end: Position(line: site.endLine, character: 0))
        let applied = try await apply("ElixirCoder: \(title)", Self.edit(doc, range, body.map { $0 + "\n" }.joined()))
        return try summary(result, applied: applied)
    }

    /// `elixirCoder.explain` {uri, line (1-based), check?}: the model's explanation of the
    /// findings there, shown with `window/showMessage` and returned as Markdown.
    private func explain(_ argument: JSONValue) async throws -> JSONValue {
        let doc = try document(argument)
        let line1 = try line(argument, in: doc, oneBased: true)
        let check = argument["check"]?.string
        let hits = publishedFindings(doc.uri).filter { $0.finding.line == line1 && (check == nil || $0.finding.check == check) }
        guard !hits.isEmpty else { throw RPCError(.invalidParams, "no finding on line \(line1)\(check.map { " with check \($0)" } ?? "")") }
        var parts: [String] = []
        for hit in hits { parts.append(try await services.modelExplanation(code: hit.text, finding: hit.finding).markdown) }
        let markdown = parts.joined(separator: "\n---\n\n")
        await server.notify("window/showMessage", .object(["type": .integer(3), "message": .string(markdown)]))
        return .object(["markdown": .string(markdown)])
    }

    /// `elixirCoder.clarify` {task, uri?, line?}: when the task is ambiguous, asks the best
    /// question with `window/showMessageRequest`, folds the answer in and generates; the code
    /// goes below `line` when a document is given.
    private func clarify(_ argument: JSONValue, token: JSONValue?) async throws -> JSONValue {
        guard let task = argument["task"]?.string, !task.isEmpty else { throw RPCError(.invalidParams, "clarify needs task, a non-empty string") }
        let doc = try argument["uri"].map { _ in try document(argument) }
        let below = try doc.flatMap { d in try argument["line"].map { _ in try line(argument, in: d) } }
        let setup = try await services.setup()
        var settings = ClarifySettings()
        if let n = argument["samples"]?.int, (2...16).contains(n) { settings.samples = n }
        let (pending, _) = try await setup.clarifier(settings).askClarification(task: task, sessions: services.sessions)
        var folded = task
        if let pending {
            let options = pending.question.options
            let answer = try await server.request("window/showMessageRequest", .object([
                "type": .integer(3), "message": .string(pending.question.text),
                "actions": .array(options.map { .object(["title": .string($0.text)]) }),
            ]))
            guard let title = answer["title"]?.string, let chosen = options.first(where: { $0.text == title }) else {
                _ = try? await services.sessions.take(pending.id)
                return .object(["question": .string(pending.question.text), "answered": .bool(false)])
            }
            folded = Clarifier.fold(task: try await services.sessions.take(pending.id).task, question: pending.question, answer: String(chosen.label))
        }
        let result = try await generateCode("Generating", task: folded, context: doc?.text, token: token, options: argument)
        return try await insert(result, into: doc, below: below)
    }
}
