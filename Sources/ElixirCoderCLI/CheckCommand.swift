import ArgumentParser
import CommandLineOptions
import Checks
import ElixirCoderCore
import Foundation

/// `elixir-coder check`: the parser, formatter and built-in Credo/Sobelow rules on a file.
struct CheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Check Elixir code: syntax, formatting, Credo and Sobelow rules (built in; real tools via ELIXIR_CODER_MIX_PROJECT).",
        discussion: "Prints findings like a compiler (file:line:column: severity check message). Exit status: 0 clean, 1 findings, 2 error. Config files (.exs under config/) also get the hard-coded secrets rule."
    )

    @Argument(help: "The file to check, or - (the default) for standard input.") var file: String?
    @Option(help: "Comma-separated sources to report: syntax, format, credo, sobelow.") var only: String?
    @Flag(help: "Print the findings as a JSON array.") var json = false

    func run() async throws {
        let sources: Set<FindingSource>?
        if let only {
            var s: Set<FindingSource> = []
            for name in only.split(separator: ",") {
                guard let src = FindingSource(rawValue: name.trimmingCharacters(in: .whitespaces)) else {
                    Stderr.print("error: unknown source '\(name)' in --only (use syntax, format, credo, sobelow)")
                    throw ExitCode(2)
                }
                s.insert(src)
            }
            sources = s
        } else {
            sources = nil
        }
        let name = file ?? "-"
        let code: String
        if name == "-" {
            code = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
        } else {
            guard let data = FileManager.default.contents(atPath: name) else {
                Stderr.print("error: cannot read \(name)")
                throw ExitCode(2)
            }
            code = String(decoding: data, as: UTF8.self)
        }
        let kind: SourceKind = name.hasSuffix(".exs") && name.contains("config") ? .config : .code
        var findings: [Finding]
        do {
            let pool = try CheckerPool(size: 1)
            findings = try await pool.findings(in: code, only: sources, kind: kind)
            if let real = MixToolChecker(), findings.allSatisfy({ $0.source != .syntax }) {
                // The real tools replace the built-in rules for the sources they cover.
                let tools = try await real.findings(in: code)
                findings = findings.filter { !$0.builtin } + tools.filter { sources?.contains($0.source) ?? true }
            }
        } catch let e as CheckerError {
            Stderr.print("error: \(e.message)")
            throw ExitCode(2)
        }
        if json {
            try printJSON(findings)
        } else {
            for f in findings {
                let origin = f.builtin ? " (built-in)" : ""
                print("\(name == "-" ? "stdin" : name):\(f.line):\(f.column ?? 1): \(f.severity) \(f.check)\(origin): \(f.message)")
            }
            Stderr.print(findings.isEmpty ? "no findings" : "\(findings.count) finding(s)")
        }
        if !findings.isEmpty { throw ExitCode(1) }
    }
}
