import Foundation

/// Judges whole programs with the real Elixir parser (`Code.string_to_quoted`), in one `elixir`
/// process for all of them: for benchmarks and tests, where the checker pool's per-request framing is not needed.
public enum ElixirParserJudge {
    /// "ok" or Elixir's error message for each program.
    public static func judge(_ programs: [String]) throws -> [String] {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("elixir-judge-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = dir.appendingPathComponent("programs.b64")
        try programs.map { Data($0.utf8).base64EncodedString() }.joined(separator: "\n").write(to: input, atomically: true, encoding: .utf8)
        let script = """
        File.read!(hd(System.argv())) |> String.split("\\n") |> Enum.each(fn line ->
          case Code.string_to_quoted(Base.decode64!(line)) do
            {:ok, _} -> IO.puts("ok")
            {:error, {_, msg, tok}} -> IO.puts(String.replace(inspect(msg) <> " " <> inspect(tok), "\\n", " "))
          end
        end)
        """
        let (data, status) = try runCapturingOutput(["elixir", "-e", script, input.path])
        let lines = String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard status == 0, lines.count >= programs.count else {
            throw CheckerError(.unavailable, "elixir could not judge the programs (exit \(status)); is elixir installed?")
        }
        return Array(lines.prefix(programs.count))
    }
}

/// Runs a command found on PATH and returns its standard output and exit status; its standard
/// error (warnings, progress) is discarded.
func runCapturingOutput(_ args: [String], in directory: URL? = nil) throws -> (output: Data, status: Int32) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = args
    if let directory { p.currentDirectoryURL = directory }
    let out = Pipe()
    p.standardOutput = out
    p.standardError = FileHandle.nullDevice
    try p.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (data, p.terminationStatus)
}
