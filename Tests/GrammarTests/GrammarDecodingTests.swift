import Engine
import Foundation
import Grammar
import Testing
import TestSupport
import Tokenizer

/// The grammar bound to the real model's vocabulary, shared by the suite.
enum Bound {
    static let engine = GrammarEngine(grammar: Compiled.grammar, tokenBytes: Shared.tokenizer.tokenBytes,
                                      endTokens: Array(Shared.tokenizer.eosTokens).sorted())

    /// Token ids the constraint leaves sampleable after `prefix`.
    static func allowed(after prefix: String, maxTokens: Int? = nil) throws -> Set<Int> {
        var c = try GrammarConstraint(engine: engine, prefix: prefix, maxTokens: maxTokens)
        var logits = [Float](repeating: 0, count: Shared.tokenizer.vocabularySize)
        logits.withUnsafeMutableBufferPointer { c.process(logits: $0) }
        return Set(logits.indices.filter { logits[$0] > -.infinity })
    }
}

@Suite("Grammar: token masks and decoding", .serialized)
struct GrammarDecodingTests {
    static let prefixes = [
        "defmodule A do\n  def f(x) do\n    ",
        "defmodule A do\n  def f(x) do\n    x |> Enum.map(fn y -> y ",
        "x = \"a #{b} ",
        "defmodule A do\n  @moduledoc \"\"\"\n  Docs",
        "y = ~r/ab",
        "case x do\n  {:ok, v} -> [v, ",
        "z = foo(a, b",
    ]

    /// The mask equals a brute-force walk of every token's bytes from the real state.
    @Test(arguments: prefixes)
    func maskMatchesBruteForce(_ prefix: String) throws {
        let allowed = try Bound.allowed(after: prefix)
        var state = GrammarState(Compiled.grammar)
        let fed = state.feed(Array(prefix.utf8), Compiled.grammar)
        #expect(fed)
        let ends = Set(Shared.tokenizer.eosTokens)
        var mismatches: [String] = []
        for id in 0..<Shared.tokenizer.vocabularySize where !ends.contains(id) {
            let bytes = Shared.tokenizer.tokenBytes[id]
            var s = state
            let valid = !bytes.isEmpty && s.feed(bytes, Compiled.grammar)
            if valid != allowed.contains(id) { mismatches.append("\(Shared.tokenizer.piece(id).debugDescription): \(valid)") }
        }
        #expect(mismatches.isEmpty, "\(mismatches.prefix(10))")
        #expect(allowed.count > 100)
    }

    @Test func realTokensAcrossTerminalBoundaries() throws {
        let allowed = try Bound.allowed(after: "defmodule A do\n  def f(x) do\n    [foo(x")
        let tok = Shared.tokenizer
        // `),` closes the call and separates list items; `))` would close one scope too many; `]` closes the wrong one.
        for (text, expected) in [(")", true), ("),", true), ("))", false), (", ", true), ("]", false), (")]", true)] {
            let ids = tok.encode(text)
            guard ids.count == 1 else { continue }
            #expect(allowed.contains(ids[0]) == expected, "\(text.debugDescription)")
        }
    }

    @Test func endOfTextOnlyWhereTheProgramIsComplete() throws {
        let eos = Array(Shared.tokenizer.eosTokens)
        #expect(!eos.isEmpty)
        let open = try Bound.allowed(after: "defmodule A do\n  def f, do: 1\n")
        #expect(eos.allSatisfy { !open.contains($0) })
        let done = try Bound.allowed(after: "defmodule A do\n  def f, do: 1\nend\n")
        #expect(eos.allSatisfy { done.contains($0) })
        let c = try GrammarConstraint(engine: Bound.engine, prefix: "defmodule A do\n  def f, do: 1\nend")
        #expect(c.isComplete)
        // Control tokens other than end-of-text are never allowed.
        let controls = (0..<Shared.tokenizer.vocabularySize).filter { Shared.tokenizer.tokenBytes[$0].isEmpty && !eos.contains($0) }
        #expect(controls.allSatisfy { !done.contains($0) })
    }

    /// With the budget just enough to close, only closing tokens are left, and they close everything in time.
    @Test(arguments: ["defmodule A do\n  def f(x) do\n    x", "defmodule A do\n  def f(x) do\n    [x, \"a #{x"])
    func budgetClosesOpenConstructs(_ prefix: String) throws {
        let tok = Shared.tokenizer
        let budget = 8
        var c = try GrammarConstraint(engine: Bound.engine, prefix: prefix, maxTokens: budget)
        // An adversarial "model" that always prefers opening another parenthesis.
        let opener = tok.encode("(")[0]
        var text = prefix
        var steps = 0
        while steps < budget, !c.isComplete {
            var logits = [Float](repeating: 0, count: tok.vocabularySize)
            logits[opener] = 10
            for (k, id) in tok.encode(" foo").enumerated() where k == 0 { logits[id] = 5 }
            logits.withUnsafeMutableBufferPointer { c.process(logits: $0) }
            let pick = logits.indices.max { logits[$0] < logits[$1] }!
            if tok.eosTokens.contains(pick) { break }
            c.didSample(token: pick)
            text += tok.decode([pick])
            steps += 1
        }
        #expect(c.state.canEnd(Compiled.grammar), "not closed within \(budget) tokens: \(text.debugDescription)")
        #expect(c.closingSteps > 0)
        #expect(try ElixirParser.parse([text]) == [true], "\(text.debugDescription)")
    }

    @Test func gbnfExportShape() throws {
        let gbnf = GBNFExporter.export(try EBNFGrammar(text: Compiled.text))
        let lines = gbnf.split(separator: "\n").filter { !$0.hasPrefix("#") }
        #expect(lines.first == "root ::= program")
        var defined = Set<String>()
        for l in lines {
            let name = l.split(separator: " ", maxSplits: 1)[0]
            #expect(name.allSatisfy { $0.isLowercase || $0.isNumber || $0 == "-" }, "\(name)")
            #expect(l.contains(" ::= "))
            defined.insert(String(name))
        }
        #expect(defined.contains("do-block") && defined.contains("t-ident") && defined.contains("interp"))
        // Every rule referenced is defined (after taking out literals and byte classes).
        let strip = try Regex("\"(\\\\.|[^\"\\\\])*\"|\\[(\\\\.|[^\\]\\\\])*\\]")
        for l in lines {
            let body = String(l.split(separator: "=", maxSplits: 1)[1]).replacing(strip, with: " ")
            let words = body.split { " ()|*+?".contains($0) }.map(String.init)
            for w in words { #expect(defined.contains(w), "undefined \(w) in \(l.prefix(40))") }
        }
        // The llama.cpp fixture's grammar is in the same notation: our reader takes it and exports it back.
        let req = try JSONSerialization.jsonObject(with: Data(contentsOf: TestPaths.fixtures.appendingPathComponent("llama-cpp/req_c.json"))) as! [String: Any]
        let fixture = try EBNFGrammar(text: req["grammar"] as! String)
        #expect(fixture.rules.map(\.name) == ["root", "expr", "op", "ident"])
        let round = GBNFExporter.export(fixture)
        #expect(round.contains("op ::= \"+\" | \"-\" | \"*\""))
        #expect(round.contains("ident ::= [a-z] [0-9_a-z]*"))
    }

    @Test func cacheRoundTrip() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("grammar-cache-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = GrammarStore(cacheDirectory: dir)
        let first = try store.load(text: Compiled.text, vocabularyHash: "v1")
        let second = try store.load(text: Compiled.text, vocabularyHash: "v1")
        #expect(first.source == .compiled && second.source == .cached)
        #expect(second.grammar.actNext == first.grammar.actNext && second.grammar.lexTrans == first.grammar.lexTrans)
        #expect(second.seconds < first.seconds)
        #expect(try store.load(text: Compiled.text, vocabularyHash: "v2").source == .compiled)
    }

    @Test func masksPersistAcrossEngines() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("grammar-masks-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("elixir.masks")
        let tok = Shared.tokenizer
        let first = GrammarEngine(grammar: Compiled.grammar, tokenBytes: tok.tokenBytes, endTokens: Array(tok.eosTokens).sorted())
        #expect(first.loadMasks(from: file) == 0)
        var state = GrammarState(Compiled.grammar)
        let fed = state.feed(Array("defmodule A do\n  def f(x) do\n    [x, ".utf8), Compiled.grammar)
        #expect(fed)
        let shallow = first.mask(top: state.top, lex: state.lex)
        let f = state.frames
        let deep = first.mask(below: f[f.count - 2], top: f[f.count - 1], lex: state.lex)
        first.persistMasks()

        let second = GrammarEngine(grammar: Compiled.grammar, tokenBytes: tok.tokenBytes, endTokens: Array(tok.eosTokens).sorted())
        #expect(second.loadMasks(from: file) == first.cachedMaskCount)
        #expect(second.buildSeconds == 0)
        let again = second.mask(top: state.top, lex: state.lex)
        #expect(again.allowed == shallow.allowed && again.dependent == shallow.dependent)
        #expect(second.mask(below: f[f.count - 2], top: f[f.count - 1], lex: state.lex).allowed == deep.allowed)
        #expect(second.buildSeconds == 0, "a persisted mask was built again")

        // A damaged file is ignored: the masks are built again on use.
        try Data("ECMASK01 not really".utf8).write(to: file)
        let third = GrammarEngine(grammar: Compiled.grammar, tokenBytes: tok.tokenBytes, endTokens: Array(tok.eosTokens).sorted())
        #expect(third.loadMasks(from: file) == 0)
        #expect(third.mask(top: state.top, lex: state.lex).allowed == shallow.allowed)
    }

    /// Property: every program the constrained decoder completes with the real model parses with Elixir.
    @Test func constrainedCompletionsParse() throws {
        let tok = Shared.tokenizer
        let generator = Generator(context: InferenceContext(model: Shared.model, threads: 2, kernels: .fast), tokenizer: tok)
        let prompts = [
            "defmodule Shapes do\n  def area(w, h) do\n    ",
            "defmodule Greeter do\n  def hello(name) do\n    \"Hello, ",
            "defmodule Lists do\n  def double(xs) do\n    Enum.map(xs, fn x ->",
        ]
        var requests: [GenerationRequest] = []
        var processors: [(any LogitsProcessor)?] = []
        var heads: [String] = []
        for p in prompts {
            for seed in 0..<3 {
                var s = SamplingParameters()
                s.seed = UInt64(seed)
                requests.append(GenerationRequest(prompt: tok.encode(p), maxTokens: 40, sampling: s))
                processors.append(try GrammarConstraint(engine: Bound.engine, prefix: p, maxTokens: 40))
                heads.append(p)
            }
        }
        let results = generator.generate(requests, processors: processors)
        let programs = zip(heads, results).map { $0 + $1.text }
        let verdicts = try ElixirParser.parse(programs)
        for (p, ok) in zip(programs, verdicts) { #expect(ok, "does not parse: \(p.debugDescription)") }
        // Budget closing may finish the program on the very last token, which the engine reports as `length`.
        #expect(results.allSatisfy { $0.finishReason != .stop && $0.finishReason != .cancelled })
        #expect(results.contains { $0.finishReason == .complete })
    }
}
