import ArgumentParser
import CommandLineOptions
import Checks
import ElixirCoderCore
import Foundation

/// `elixir-coder check`: the parser, formatter and built-in Credo/Sobelow rules on a file.
struct CheckCommand: AsyncParsableCommand {
    /// A syntax finding at the first byte that is not UTF-8.
    static func invalidUTF8(_ data: Data) -> Finding {
        let bytes = Array(data)
        // Walk character by character (the lead byte says how long each is) to the first bad one.
        var valid = 0
        while valid < bytes.count {
            let b = bytes[valid]
            let n = b < 0x80 ? 1 : b >> 5 == 0b110 ? 2 : b >> 4 == 0b1110 ? 3 : b >> 3 == 0b11110 ? 4 : 0
            guard n > 0, valid + n <= bytes.count, String(validating: bytes[valid..<(valid + n)], as: UTF8.self) != nil else { break }
            valid += n
        }
        let before = bytes[0..<valid]
        let line = before.count { $0 == 10 } + 1
        // Columns count characters, as Elixir's do.
        let column = String(decoding: before[(before.lastIndex(of: 10).map { $0 + 1 } ?? 0)...], as: UTF8.self).unicodeScalars.count + 1
        return Finding(source: .syntax, check: "SyntaxError.InvalidUTF8", category: "syntax", line: line, column: column,
                       message: "byte \(valid) (0x\(String(bytes[min(valid, bytes.count - 1)], radix: 16))) is not UTF-8; Elixir source files must be UTF-8")
    }

    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Check Elixir code: syntax, formatting, Credo and Sobelow (the real tools when the file's Mix project has them).",
        discussion: """
        Prints findings like a compiler (file:line:column: severity check message). Exit status: 0 clean, 1 findings, 2 error; \
        with --credo-exit-codes, Credo's own: one bit per category with findings (consistency 1, design 2, readability 4, refactor 8, \
        warning 16), ORed. Config files (.exs under config/) also get the hard-coded secrets rule. The nearest .credo.exs \
        (or config/.credo.exs) and .sobelow-conf above the file are read as data, never run. When the nearest Mix project \
        above the file (or ELIXIR_CODER_MIX_PROJECT) has credo or sobelow in deps/, the real mix credo / mix sobelow run \
        there instead of the built-in rules; a note says when the built-in rules stand in.
        """
    )

    @Argument(help: "The file to check, or - (the default) for standard input.") var file: String?
    @Option(help: "Comma-separated sources to report: syntax, format, credo, sobelow.") var only: String?
    @Flag(help: "Print the findings as a JSON array.") var json = false
    @Flag(help: "Like mix credo --strict: also the low-priority checks (line length, trailing white-space, alias usage, ...).") var strict = false
    @Flag(help: "Exit with Credo's status: one bit per category with findings.") var credoExitCodes = false
    @Flag(help: "Like mix sobelow --skip: honour @sobelow_skip annotations.") var skip = false

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
        let data: Data
        if name == "-" {
            data = FileHandle.standardInput.readDataToEndOfFile()
        } else {
            guard let d = FileManager.default.contents(atPath: name) else {
                Stderr.print("error: cannot read \(name)")
                throw ExitCode(2)
            }
            data = d
        }
        // Elixir reads source as UTF-8 and rejects anything else; decoding with replacement
        // characters would check a different file than the compiler sees.
        guard let code = String(validating: data, as: UTF8.self) else {
            let finding = Self.invalidUTF8(data)
            if json { try printJSON([finding]) } else { print("\(name):\(finding.line):\(finding.column ?? 1): error \(finding.check): \(finding.message)") }
            throw ExitCode(1)
        }
        let options = name == "-" ? CheckOptions(strict: strict, sobelowSkip: skip) : CheckOptions.forFile(name, strict: strict, sobelowSkip: skip)
        var findings: [Finding]
        do {
            let checks = ProjectChecks(pool: try CheckerPool(size: 1))
            let checked = try await checks.check(CheckedFile(path: name == "-" ? nil : name, text: code), only: sources, options: options)
            findings = checked.findings
            for note in checked.notes { Stderr.print("note: \(note)") }
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
        if credoExitCodes {
            let status = CredoExitStatus.status(for: findings)
            if status != 0 { throw ExitCode(status) }
            return
        }
        if !findings.isEmpty { throw ExitCode(1) }
    }
}
