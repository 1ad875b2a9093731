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

/// The real Elixir parser in a persistent `elixir` process (started once, about
/// 0.4 s; then a few milliseconds per check). It never evaluates the code.
/// Beyond syntax it insists on the shape the product promises: one named module with a function.
/// A crashed or stuck process is restarted; the request that hit it gets an error.
public final class ElixirParseChecker: CandidateChecker, @unchecked Sendable {
    /// Reads base64 lines, answers one line each: "ok" or "line\tcolumn\tcheck\tmessage".
    static let script = """
    check = fn code ->
      case Code.string_to_quoted(code, columns: true) do
        {:ok, {:defmodule, _, [{:__aliases__, _, _}, [do: body]]}} ->
          defs = case body do
            {:__block__, _, forms} -> forms
            form -> [form]
          end
          if Enum.any?(defs, &match?({d, _, _} when d in [:def, :defp, :defmacro], &1)),
            do: "ok",
            else: "1\t1\tElixirCoder.NoFunction\tthe module defines no function"
        {:ok, _} -> "1\t1\tElixirCoder.NoModule\tthe code is not one defmodule with a module name and a do block"
        {:error, {meta, msg, token}} ->
          msg = if is_tuple(msg), do: elem(msg, 0) <> elem(msg, 1), else: msg
          "#{Keyword.get(meta, :line, 1)}\t#{Keyword.get(meta, :column, 0)}\tSyntaxError\t#{String.replace(msg <> token, ~r/\\s+/, " ")}"
      end
    end
    loop = fn loop ->
      case IO.read(:stdio, :line) do
        :eof -> :ok
        line ->
          answer = case Base.decode64(String.trim(line)) do
            {:ok, code} -> check.(code)
            :error -> "1\t1\tElixirCoder.BadRequest\tnot base64"
          end
          IO.puts(answer)
          loop.(loop)
      end
    end
    loop.(loop)
    """

    private let lock = NSLock()
    private var process: Process?
    private var stdinPipe: Pipe?
    private var reader: FileHandle?
    private var pending = Data()
    private let queue = DispatchQueue(label: "elixir-coder.parse-checker")
    public let timeout: Double
    public let maxBytes: Int

    public init(timeout: Double = 10, maxBytes: Int = 1 << 20) {
        self.timeout = timeout
        self.maxBytes = maxBytes
    }

    deinit { process?.terminate() }

    public func problems(in code: String) async throws -> [Problem] {
        guard code.utf8.count <= maxBytes else { throw PipelineError("the code is \(code.utf8.count) bytes; the checker takes at most \(maxBytes)") }
        let request = Data(code.utf8).base64EncodedString() + "\n"
        let line: String = try await withCheckedThrowingContinuation { cont in
            queue.async { cont.resume(with: Result { try self.roundTrip(request) }) }
        }
        if line == "ok" { return [] }
        let parts = line.split(separator: "\t", maxSplits: 3).map(String.init)
        guard parts.count == 4 else { throw PipelineError("unexpected checker output: \(line)") }
        return [Problem(source: parts[2] == "SyntaxError" ? "syntax" : "builtin", check: parts[2], line: Int(parts[0]) ?? 1, column: Int(parts[1]), message: parts[3])]
    }

    /// Runs on `queue` only, so one request at a time talks to the process.
    private func roundTrip(_ request: String) throws -> String {
        if process?.isRunning != true { try start() }
        guard let stdinPipe, let reader, let process else { throw PipelineError("the checker process is not running") }
        stdinPipe.fileHandleForWriting.write(Data(request.utf8))
        let deadline = DispatchTime.now() + timeout
        let pid = process.processIdentifier
        let watchdog = DispatchWorkItem { kill(pid, SIGKILL) }
        DispatchQueue.global().asyncAfter(deadline: deadline, execute: watchdog)
        defer { watchdog.cancel() }
        while true {
            if let nl = pending.firstIndex(of: 10) {
                let line = String(decoding: pending[pending.startIndex..<nl], as: UTF8.self)
                pending = Data(pending[(nl + 1)...])
                return line
            }
            let chunk = reader.availableData
            if chunk.isEmpty {
                self.process = nil
                throw PipelineError("the Elixir checker stopped (crashed or timed out after \(Int(timeout)) s); it restarts on the next request")
            }
            pending += chunk
        }
    }

    private func start() throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["elixir", "-e", Self.script]
        let input = Pipe(), output = Pipe()
        p.standardInput = input
        p.standardOutput = output
        p.standardError = FileHandle.nullDevice
        do { try p.run() } catch { throw PipelineError("cannot start elixir (is it installed? run make setup): \(error)") }
        process = p
        stdinPipe = input
        reader = output.fileHandleForReading
        pending = Data()
    }

    /// Kills the process (tests use this to prove recovery).
    public func killProcess() {
        queue.sync { process?.interrupt(); kill(process?.processIdentifier ?? 0, SIGKILL); process?.waitUntilExit() }
    }
}
