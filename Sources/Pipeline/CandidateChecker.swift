import Foundation

/// One problem a checker found in a candidate.
public struct Problem: Sendable, Codable, Equatable {
    /// `syntax`, `format`, `credo`, `sobelow`, `builtin`, `test`.
    public var source: String
    public var check: String
    public var line: Int
    public var column: Int?
    public var message: String

    public init(source: String, check: String, line: Int, column: Int? = nil, message: String) {
        self.source = source
        self.check = check
        self.line = line
        self.column = column
        self.message = message
    }
}

/// Judges candidate code. The seam where the full checker (syntax, format,
/// Credo or built-in rules, Sobelow) plugs into the generate-check-repair loop.
public protocol CandidateChecker: Sendable {
    func problems(in code: String) async throws -> [Problem]
}

/// The real Elixir parser, one `elixir` process per call: never evaluates the code.
/// Beyond syntax it insists on the shape the product promises: one named module with a function.
public struct ElixirParseChecker: CandidateChecker {
    /// Reads the code from stdin and prints "ok" or "line\tcolumn\tmessage".
    static let script = """
    code = IO.read(:stdio, :eof)
    case Code.string_to_quoted(code, columns: true) do
      {:ok, {:defmodule, _, [{:__aliases__, _, _}, [do: body]]}} ->
        defs = case body do
          {:__block__, _, forms} -> forms
          form -> [form]
        end
        if Enum.any?(defs, &match?({d, _, _} when d in [:def, :defp, :defmacro], &1)),
          do: IO.puts("ok"),
          else: IO.puts("1\t1\tElixirCoder.NoFunction\tthe module defines no function")
      {:ok, _} -> IO.puts("1\t1\tElixirCoder.NoModule\tthe code is not one defmodule with a module name and a do block")
      {:error, {meta, msg, token}} ->
        msg = if is_tuple(msg), do: elem(msg, 0) <> elem(msg, 1), else: msg
        IO.puts("#{Keyword.get(meta, :line, 1)}\\t#{Keyword.get(meta, :column, 0)}\\tSyntaxError\\t#{msg}#{token}")
    end
    """

    public init() {}

    public func problems(in code: String) async throws -> [Problem] {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["elixir", "-e", Self.script]
        let input = Pipe(), output = Pipe()
        p.standardInput = input
        p.standardOutput = output
        p.standardError = FileHandle.nullDevice
        do { try p.run() } catch { throw PipelineError("cannot start elixir (is it installed? run make setup): \(error)") }
        input.fileHandleForWriting.write(Data(code.utf8))
        try input.fileHandleForWriting.close()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let out = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard p.terminationStatus == 0 else { throw PipelineError("elixir exited with status \(p.terminationStatus) while parsing") }
        if out == "ok" { return [] }
        let parts = out.split(separator: "\t", maxSplits: 3).map(String.init)
        guard parts.count == 4 else { throw PipelineError("unexpected parser output: \(out)") }
        return [Problem(source: parts[2] == "SyntaxError" ? "syntax" : "builtin", check: parts[2], line: Int(parts[0]) ?? 1, column: Int(parts[1]), message: parts[3])]
    }
}
