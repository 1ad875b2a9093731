import Foundation
import Testing

/// A language-server client on `serve --stdio`: requests with ids, the server's own requests
/// answered as an editor would, everything else collected.
final class LSPClient {
    let stdio: StdioClient
    private var nextID = 1
    /// Notifications received so far, in order.
    var notifications: [[String: Any]] = []
    /// Requests the server sent, in order.
    var serverRequests: [[String: Any]] = []
    /// The answer to a server request, by method (default: null).
    var answers: [String: Any] = ["workspace/applyEdit": ["applied": true]]
    /// Answers `window/showMessageRequest` (its params in, the result out); default: dismissed.
    var choose: ([String: Any]) -> Any = { _ in NSNull() }

    init() throws { stdio = try StdioClient() }

    static func uri(_ name: String) -> String { "file:///tmp/lsp-test/\(name)" }

    func notify(_ method: String, _ params: [String: Any]) throws {
        try stdio.send(["jsonrpc": "2.0", "method": method, "params": params])
    }

    /// Sends a request; returns its id.
    @discardableResult
    func send(_ method: String, _ params: [String: Any]) throws -> Int {
        defer { nextID += 1 }
        try stdio.send(["jsonrpc": "2.0", "id": nextID, "method": method, "params": params])
        return nextID
    }

    /// Reads one message, answering it if it is the server's request; a response is returned.
    private func readOne() throws -> [String: Any]? {
        let m = try stdio.read()
        if let method = m["method"] as? String {
            if let id = m["id"] {
                serverRequests.append(m)
                let result = method == "window/showMessageRequest" ? choose(m["params"] as? [String: Any] ?? [:]) : answers[method] ?? NSNull()
                try stdio.send(["jsonrpc": "2.0", "id": id, "result": result])
            } else {
                notifications.append(m)
            }
            return nil
        }
        return m
    }

    func response(_ id: Int) throws -> [String: Any] {
        while true {
            if let m = try readOne(), m["id"] as? Int == id { return m }
        }
    }

    func request(_ method: String, _ params: [String: Any]) throws -> [String: Any] {
        try response(try send(method, params))
    }

    /// Reads until a notification satisfies `match`; returns its params.
    func wait(for method: String, where match: ([String: Any]) -> Bool = { _ in true }) throws -> [String: Any] {
        var seen = 0
        while true {
            for n in notifications[seen...] where n["method"] as? String == method {
                if let p = n["params"] as? [String: Any], match(p) { return p }
            }
            seen = notifications.count
            _ = try readOne()
        }
    }

    func initialize() throws -> [String: Any] {
        try request("initialize", ["processId": NSNull(), "rootUri": NSNull(), "capabilities": ["window": ["workDoneProgress": true]]])
    }

    func open(_ name: String, text: String, version: Int = 1) throws {
        try notify("textDocument/didOpen", ["textDocument": ["uri": Self.uri(name), "languageId": "elixir", "version": version, "text": text]])
    }

    /// The diagnostics published for `name` at `version`.
    func diagnostics(_ name: String, version: Int) throws -> [[String: Any]] {
        let p = try wait(for: "textDocument/publishDiagnostics") { $0["uri"] as? String == Self.uri(name) && $0["version"] as? Int == version }
        return p["diagnostics"] as? [[String: Any]] ?? []
    }
}

func errorCode(_ response: [String: Any]) -> Int? { (response["error"] as? [String: Any])?["code"] as? Int }

func fixture(_ name: String) throws -> String {
    try String(contentsOf: CLI.repo.appendingPathComponent("Tests/Fixtures/lsp/\(name)"), encoding: .utf8)
}

/// Compiles `code` with the real Elixir and evaluates `expression`; the exit status and output.
func elixir(_ code: String, then expression: String) throws -> (status: Int32, output: String) {
    let file = FileManager.default.temporaryDirectory.appendingPathComponent("lsp-\(UUID().uuidString).ex")
    try code.write(to: file, atomically: true, encoding: .utf8)
    defer { try? FileManager.default.removeItem(at: file) }
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = ["elixir", "-e", "Code.compile_file(\"\(file.path)\"); \(expression)"]
    let out = Pipe()
    p.standardOutput = out
    p.standardError = out
    try p.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: data, as: UTF8.self))
}

func range(_ d: [String: Any]) -> [Int] {
    let r = d["range"] as! [String: [String: Int]]
    return [r["start"]!["line"]!, r["start"]!["character"]!, r["end"]!["line"]!, r["end"]!["character"]!]
}

@Suite("serve --stdio as a language server", .serialized)
struct LanguageServerProtocolTests {
    @Test("lifecycle: requests before initialize get -32002, initialize advertises what is implemented, a second one is refused, shutdown then exit is 0")
    func lifecycle() throws {
        let c = try LSPClient()
        let early = try c.request("textDocument/hover", ["textDocument": ["uri": LSPClient.uri("a.ex")], "position": ["line": 0, "character": 0]])
        #expect(errorCode(early) == -32002)
        // A notification before initialize is dropped: the document is not open afterwards.
        try c.open("early.ex", text: "defmodule Early do\nend\n")
        let result = try #require(try c.initialize()["result"] as? [String: Any])
        let caps = try #require(result["capabilities"] as? [String: Any])
        #expect(caps["positionEncoding"] as? String == "utf-16")
        #expect((caps["textDocumentSync"] as? [String: Any])?["change"] as? Int == 2)
        #expect(caps["hoverProvider"] as? Bool == true)
        #expect(((caps["executeCommandProvider"] as? [String: Any])?["commands"] as? [String])?.sorted()
                == ["elixirCoder.clarify", "elixirCoder.explain", "elixirCoder.fix", "elixirCoder.generate", "elixirCoder.implement"])
        #expect(caps["completionProvider"] == nil && caps["definitionProvider"] == nil, "only what is implemented is advertised")
        #expect((caps["methods"] as? [String])?.contains("generate") == true, "the editor protocol's own methods are still there")
        #expect(errorCode(try c.initialize()) == -32600)
        try c.notify("initialized", [:])
        let notOpen = try c.request("textDocument/hover", ["textDocument": ["uri": LSPClient.uri("early.ex")], "position": ["line": 0, "character": 0]])
        #expect(errorCode(notOpen) == -32602)
        #expect(try c.request("shutdown", [:])["result"] is NSNull)
        #expect(errorCode(try c.request("textDocument/codeAction", ["textDocument": ["uri": "x"]])) == -32600, "after shutdown only exit")
        try c.notify("exit", [:])
        #expect(try c.stdio.finish() == 0)
    }

    @Test("diagnostics: codes, sources, severities and exact ranges after open, and after an incremental edit")
    func diagnostics() throws {
        let c = try LSPClient()
        _ = try c.initialize()
        try c.open("greeter.ex", text: try fixture("greeter.ex"))
        let first = try c.diagnostics("greeter.ex", version: 1)
        let atom = try #require(first.first { $0["code"] as? String == "DOS.StringToAtom" }, "\(first)")
        #expect(atom["source"] as? String == "sobelow")
        #expect(range(atom) == [4, 11, 4, 18], "`to_atom` on line 5, where Sobelow's column points: \(atom)")
        let unused = try #require(first.first { ($0["code"] as? String)?.hasPrefix("Compiler.") == true }, "\(first)")
        #expect(range(unused)[0] == 8 && unused["severity"] as? Int == 2, "the unused variable on line 9, a warning: \(unused)")
        // Replace `String.to_atom(name)` with `name` (an incremental change), then the unused variable.
        try c.notify("textDocument/didChange", ["textDocument": ["uri": LSPClient.uri("greeter.ex"), "version": 2],
                                               "contentChanges": [["range": ["start": ["line": 4, "character": 4], "end": ["line": 4, "character": 24]], "text": "name"],
                                                                  ["range": ["start": ["line": 8, "character": 0], "end": ["line": 9, "character": 0]], "text": ""]]])
        let second = try c.diagnostics("greeter.ex", version: 2)
        #expect(second.isEmpty, "\(second)")
        // Break it: the parser's error is on the line it names.
        try c.notify("textDocument/didChange", ["textDocument": ["uri": LSPClient.uri("greeter.ex"), "version": 3],
                                               "contentChanges": [["range": ["start": ["line": 4, "character": 8], "end": ["line": 4, "character": 8]], "text": " +"]]])
        let broken = try c.diagnostics("greeter.ex", version: 3)
        #expect(broken.count == 1 && broken[0]["severity"] as? Int == 1 && (broken[0]["code"] as? String)?.hasPrefix("SyntaxError") == true, "\(broken)")
        try c.notify("textDocument/didClose", ["textDocument": ["uri": LSPClient.uri("greeter.ex")]])
        let closed = try c.wait(for: "textDocument/publishDiagnostics") { $0["version"] == nil }
        #expect((closed["diagnostics"] as? [Any])?.isEmpty == true)
        #expect(try c.stdio.shutdown(id: 900) == 0)
    }

    @Test("typing: a burst of edits publishes the last state, and stale runs are dropped")
    func debounce() throws {
        let c = try LSPClient()
        _ = try c.initialize()
        try c.open("burst.ex", text: "defmodule Burst do\n  @moduledoc \"B.\"\n  def f(x), do: x\nend\n")
        _ = try c.diagnostics("burst.ex", version: 1)
        // Type `String.to_atom(x)` one character at a time over `x` on line 3.
        let typed = "String.to_atom(x)"
        try c.notify("textDocument/didChange", ["textDocument": ["uri": LSPClient.uri("burst.ex"), "version": 2],
                                               "contentChanges": [["range": ["start": ["line": 2, "character": 16], "end": ["line": 2, "character": 17]], "text": ""]]])
        for (i, ch) in typed.enumerated() {
            try c.notify("textDocument/didChange", ["textDocument": ["uri": LSPClient.uri("burst.ex"), "version": 3 + i],
                                                   "contentChanges": [["range": ["start": ["line": 2, "character": 16 + i], "end": ["line": 2, "character": 16 + i]], "text": String(ch)]]])
        }
        let last = 2 + typed.count
        let final = try c.diagnostics("burst.ex", version: last)
        #expect(final.contains { $0["code"] as? String == "DOS.StringToAtom" }, "\(final)")
        let published = c.notifications.filter { ($0["params"] as? [String: Any])?["uri"] as? String == LSPClient.uri("burst.ex") }.count
        #expect(published < typed.count / 2, "\(published) publications for \(typed.count + 1) edits")
        #expect(try c.stdio.shutdown(id: 900) == 0)
    }

    @Test("malformed and out-of-order messages: unknown documents, bad ranges, non-ASCII columns, a notification sent as a request")
    func malformed() throws {
        let c = try LSPClient()
        _ = try c.initialize()
        try c.notify("textDocument/didChange", ["textDocument": ["uri": LSPClient.uri("nowhere.ex"), "version": 2], "contentChanges": [["text": "x"]]])
        let warned = try c.wait(for: "window/logMessage") { ($0["message"] as? String)?.contains("not open") == true }
        #expect(warned["type"] as? Int == 2)
        #expect(errorCode(try c.request("textDocument/didOpen", ["textDocument": ["uri": "x", "text": ""]])) == -32600)
        // Non-ASCII before the edit: é is one UTF-16 unit, 😀 two. The edit replaces `to_atom`
        // (UTF-16 columns 22-29 on line 3) with `to_existing_atom`, which is no finding.
        let text = "defmodule Emoji do\n  @moduledoc \"é😀\"\n  def f(s), do: {\"é😀\", String.to_atom(s)}\nend\n"
        try c.open("emoji.ex", text: text)
        let before = try c.diagnostics("emoji.ex", version: 1)
        let atom = try #require(before.first { $0["code"] as? String == "DOS.StringToAtom" }, "\(before)")
        #expect(range(atom) == [2, 31, 2, 38], "`to_atom`, 😀 counted as two UTF-16 units: \(atom)")
        try c.notify("textDocument/didChange", ["textDocument": ["uri": LSPClient.uri("emoji.ex"), "version": 2],
                                               "contentChanges": [["range": ["start": ["line": 2, "character": 31], "end": ["line": 2, "character": 38]], "text": "to_existing_atom"]]])
        #expect(try c.diagnostics("emoji.ex", version: 2).isEmpty)
        // A range past the end of a line is clamped to it: this appends a comment to line 1, which
        // only the formatter minds (it would move it).
        try c.notify("textDocument/didChange", ["textDocument": ["uri": LSPClient.uri("emoji.ex"), "version": 3],
                                               "contentChanges": [["range": ["start": ["line": 0, "character": 500], "end": ["line": 0, "character": 900]], "text": " # ok"]]])
        #expect(try c.diagnostics("emoji.ex", version: 3).map { $0["code"] as? String } == ["Formatter"])
        // A malformed range (end before start) is skipped with a warning; the server keeps serving.
        try c.notify("textDocument/didChange", ["textDocument": ["uri": LSPClient.uri("emoji.ex"), "version": 4],
                                               "contentChanges": [["range": ["start": ["line": 2, "character": 5], "end": ["line": 0, "character": 0]], "text": "boom"]]])
        _ = try c.wait(for: "window/logMessage") { ($0["message"] as? String)?.contains("malformed range") == true }
        #expect(try c.diagnostics("emoji.ex", version: 4).map { $0["code"] as? String } == ["Formatter"])
        let actions = try #require(try c.request("textDocument/codeAction", ["textDocument": ["uri": LSPClient.uri("emoji.ex")],
                                                                             "range": ["start": ["line": 0, "character": 0], "end": ["line": 0, "character": 0]]])["result"] as? [[String: Any]])
        let whole = (((actions.first { $0["title"] as? String == "Format with ElixirCoder" }?["edit"] as? [String: Any])?["documentChanges"] as? [[String: Any]])?
            .first?["edits"] as? [[String: Any]])?.first?["newText"] as? String ?? ""
        #expect(whole.contains("# ok") && whole.contains(#"{"é😀", String.to_existing_atom(s)}"#) && !whole.contains("boom"), "the server's text: \(whole)")
        #expect(errorCode(try c.request("textDocument/hover", ["textDocument": ["uri": LSPClient.uri("emoji.ex")], "position": ["line": -1]])) == -32602)
        #expect(errorCode(try c.request("workspace/executeCommand", ["command": "elixirCoder.nothing"])) == -32602)
        #expect(errorCode(try c.request("workspace/executeCommand", ["command": "elixirCoder.implement", "arguments": [["uri": LSPClient.uri("emoji.ex"), "line": 0]]])) == -32602,
                "no stub there")
        #expect(errorCode(try c.request("textDocument/codeAction", ["textDocument": ["uri": LSPClient.uri("emoji.ex")], "range": "all"])) == -32602)
        #expect(try c.stdio.shutdown(id: 900) == 0)
    }

    @Test("hover explains a diagnostic; code actions offer Explain, Fix, Format, Implement and Generate where they apply")
    func hoverAndActions() throws {
        let c = try LSPClient()
        _ = try c.initialize()
        try c.open("greeter.ex", text: try fixture("greeter.ex"))
        _ = try c.diagnostics("greeter.ex", version: 1)
        let hover = try #require(try c.request("textDocument/hover", ["textDocument": ["uri": LSPClient.uri("greeter.ex")], "position": ["line": 4, "character": 12]])["result"] as? [String: Any])
        let markdown = try #require((hover["contents"] as? [String: Any])?["value"] as? String)
        #expect(markdown.contains("DOS.StringToAtom") && markdown.contains("### How to fix") && markdown.contains("### Why it matters"), "\(markdown)")
        #expect(try c.request("textDocument/hover", ["textDocument": ["uri": LSPClient.uri("greeter.ex")], "position": ["line": 1, "character": 3]])["result"] is NSNull)
        let onFinding = try #require(try c.request("textDocument/codeAction", ["textDocument": ["uri": LSPClient.uri("greeter.ex")],
                                                                              "range": ["start": ["line": 4, "character": 12], "end": ["line": 4, "character": 12]], "context": ["diagnostics": []]])["result"] as? [[String: Any]])
        let titles = onFinding.compactMap { $0["title"] as? String }
        #expect(titles.contains("Explain DOS.StringToAtom") && titles.contains("Fix with ElixirCoder: DOS.StringToAtom"), "\(titles)")
        try c.open("stub.ex", text: try fixture("age_sort.ex"))
        _ = try c.diagnostics("stub.ex", version: 1)
        let onStub = try #require(try c.request("textDocument/codeAction", ["textDocument": ["uri": LSPClient.uri("stub.ex")],
                                                                           "range": ["start": ["line": 12, "character": 2], "end": ["line": 12, "character": 2]], "context": ["diagnostics": []]])["result"] as? [[String: Any]])
        let implement = try #require(onStub.first { $0["title"] as? String == "Implement sort_by_age with ElixirCoder" }, "\(onStub)")
        #expect(((implement["command"] as? [String: Any])?["command"] as? String) == "elixirCoder.implement")
        try c.open("comment.ex", text: "defmodule Notes do\n  # return the number of vowels in a string\nend\n")
        _ = try c.diagnostics("comment.ex", version: 1)
        let onComment = try #require(try c.request("textDocument/codeAction", ["textDocument": ["uri": LSPClient.uri("comment.ex")],
                                                                              "range": ["start": ["line": 1, "character": 4], "end": ["line": 1, "character": 4]], "context": ["diagnostics": []]])["result"] as? [[String: Any]])
        #expect(onComment.contains { $0["title"] as? String == "Generate code for this" }, "\(onComment)")
        // Unformatted code: the formatter's fix is an edit in the action itself.
        try c.open("messy.ex", text: "defmodule Messy do\n  @moduledoc \"M.\"\n  def f(x),   do: x\nend\n")
        let messy = try c.diagnostics("messy.ex", version: 1)
        #expect(messy.contains { $0["code"] as? String == "Formatter" && $0["severity"] as? Int == 4 }, "\(messy)")
        let format = try #require(try c.request("textDocument/codeAction", ["textDocument": ["uri": LSPClient.uri("messy.ex")],
                                                                           "range": ["start": ["line": 0, "character": 0], "end": ["line": 0, "character": 0]], "context": ["diagnostics": []]])["result"] as? [[String: Any]])
        let edit = try #require(format.first { $0["title"] as? String == "Format with ElixirCoder" }?["edit"] as? [String: Any], "\(format)")
        let newText = (((edit["documentChanges"] as? [[String: Any]])?.first?["edits"] as? [[String: Any]])?.first?["newText"] as? String)
        #expect(newText?.contains("def f(x), do: x") == true)
        #expect(try c.stdio.shutdown(id: 900) == 0)
    }

    @Test("Implement on a stub: progress, then a workspace/applyEdit whose body compiles; a cancelled generate applies nothing")
    func implementAndCancel() throws {
        let c = try LSPClient()
        _ = try c.initialize()
        let source = try fixture("age_sort.ex")
        try c.open("age_sort.ex", text: source)
        _ = try c.diagnostics("age_sort.ex", version: 1)
        let done = try c.request("workspace/executeCommand", ["command": "elixirCoder.implement", "arguments": [["uri": LSPClient.uri("age_sort.ex"), "line": 12]]])
        let result = try #require(done["result"] as? [String: Any], "\(done)")
        #expect(result["applied"] as? Bool == true)
        #expect(c.serverRequests.first?["method"] as? String == "window/workDoneProgress/create")
        let kinds = c.notifications.filter { $0["method"] as? String == "$/progress" }.compactMap { (($0["params"] as? [String: Any])?["value"] as? [String: Any])?["kind"] as? String }
        #expect(kinds.first == "begin" && kinds.last == "end", "\(kinds)")
        let apply = try #require(c.serverRequests.first { $0["method"] as? String == "workspace/applyEdit" })
        let change = try #require(((apply["params"] as? [String: Any])?["edit"] as? [String: Any])?["documentChanges"] as? [[String: Any]])
        let edit = try #require((change.first?["edits"] as? [[String: Any]])?.first)
        #expect(range(edit) == [12, 0, 13, 0], "the body lines only: \(edit)")
        var lines = source.components(separatedBy: "\n")
        lines.replaceSubrange(12..<13, with: (edit["newText"] as! String).components(separatedBy: "\n").dropLast())
        let filled = lines.joined(separator: "\n")
        // It compiles with the real Elixir and defines the function. (Whether it is right depends on
        // the model and the search under the time budget; the status says which.)
        let run = try elixir(filled, then: "IO.inspect(function_exported?(AgeSort, :sort_by_age, 1))")
        #expect(run.status == 0 && run.output.contains("true"), "\(run.output)\n\(filled)")
        // A cancelled generate: -32800, and no edit is asked for.
        c.serverRequests = []
        let id = try c.send("workspace/executeCommand", ["command": "elixirCoder.generate",
                                                         "arguments": [["uri": LSPClient.uri("age_sort.ex"), "line": 1, "task": "Write a function that parses an ISO 8601 date and returns the weekday name, with error handling."]]])
        _ = try c.wait(for: "$/progress") { (($0["value"] as? [String: Any])?["kind"] as? String) == "begin" }
        try c.notify("$/cancelRequest", ["id": id])
        #expect(errorCode(try c.response(id)) == -32800)
        #expect(!c.serverRequests.contains { $0["method"] as? String == "workspace/applyEdit" })
        #expect(try c.stdio.shutdown(id: 900) == 0)
    }

    @Test("commands: explain shows the model's explanation, fix of the formatter's finding applies mix format, generate on a comment inserts code below it")
    func commands() throws {
        let c = try LSPClient()
        _ = try c.initialize()
        try c.open("greeter.ex", text: try fixture("greeter.ex"))
        _ = try c.diagnostics("greeter.ex", version: 1)
        let explained = try c.request("workspace/executeCommand", ["command": "elixirCoder.explain",
                                                                   "arguments": [["uri": LSPClient.uri("greeter.ex"), "line": 5, "check": "DOS.StringToAtom"]]])
        let markdown = try #require((explained["result"] as? [String: Any])?["markdown"] as? String, "\(explained)")
        #expect(markdown.contains("## ") && markdown.contains("### How to fix"))
        let shown = try c.wait(for: "window/showMessage")
        #expect(shown["message"] as? String == markdown)
        #expect(errorCode(try c.request("workspace/executeCommand", ["command": "elixirCoder.explain", "arguments": [["uri": LSPClient.uri("greeter.ex"), "line": 2]]])) == -32602,
                "no finding on line 2")

        try c.open("messy.ex", text: "defmodule Messy do\n  @moduledoc \"M.\"\n  def f(x),   do: x\nend\n")
        _ = try c.diagnostics("messy.ex", version: 1)
        let fixed = try c.request("workspace/executeCommand", ["command": "elixirCoder.fix", "arguments": [["uri": LSPClient.uri("messy.ex"), "line": 1, "check": "Formatter"]]])
        #expect((fixed["result"] as? [String: Any])?["applied"] as? Bool == true, "\(fixed)")
        let formatEdit = try #require(c.serverRequests.last { $0["method"] as? String == "workspace/applyEdit" })
        #expect("\(formatEdit)".contains("def f(x), do: x"))

        try c.open("notes.ex", text: "defmodule Notes do\n  @moduledoc \"Notes.\"\n\n  # return the sum of a list of numbers\nend\n")
        _ = try c.diagnostics("notes.ex", version: 1)
        c.serverRequests = []
        let generated = try c.request("workspace/executeCommand", ["command": "elixirCoder.generate", "arguments": [["uri": LSPClient.uri("notes.ex"), "line": 3, "candidates": 1, "maxAttempts": 1, "maxTokens": 96]]])
        let result = try #require(generated["result"] as? [String: Any], "\(generated)")
        let code = try #require(result["code"] as? String)
        let insert = try #require(c.serverRequests.first { $0["method"] as? String == "workspace/applyEdit" }, "no edit for status \(result["status"] ?? "")")
        let edit = try #require(((((insert["params"] as? [String: Any])?["edit"] as? [String: Any])?["documentChanges"] as? [[String: Any]])?.first?["edits"] as? [[String: Any]])?.first)
        #expect(range(edit) == [4, 0, 4, 0], "inserted below the comment: \(edit)")
        #expect((edit["newText"] as? String)?.hasPrefix(code) == true)
        #expect(result["applied"] as? Bool == true)
        #expect(try c.stdio.shutdown(id: 900) == 0)
    }

    @Test("clarify asks with window/showMessageRequest and generates from the chosen answer")
    func clarify() throws {
        let c = try LSPClient()
        _ = try c.initialize()
        let task = "Write a function that divides two numbers safely."
        let small: [String: Any] = ["task": task, "samples": 2, "candidates": 2, "maxAttempts": 1, "maxTokens": 32]
        c.choose = { params in ["title": ((params["actions"] as? [[String: Any]])?.first?["title"] as? String) ?? ""] }
        let answered = try c.request("workspace/executeCommand", ["command": "elixirCoder.clarify", "arguments": [small]])
        let asked = try #require(c.serverRequests.first { $0["method"] as? String == "window/showMessageRequest" }?["params"] as? [String: Any])
        let options = asked["actions"] as? [[String: Any]] ?? []
        #expect(!(asked["message"] as? String ?? "").isEmpty && options.count >= 2, "\(asked)")
        let result = try #require(answered["result"] as? [String: Any], "\(answered)")
        #expect((result["code"] as? String)?.hasPrefix("defmodule") == true || result["status"] as? String == "abstained", "\(result)")
        #expect(try c.stdio.shutdown(id: 900) == 0)
    }
}
