import Foundation

/// One persistent `elixir` process running `checker.exs`, spoken to one request at a time.
///
/// Requests are lines (`id \t command \t base64 code \t argument`); answers are JSON lines.
/// A crash or a timeout kills the process; the request that hit it gets an error and
/// the next request starts a fresh one.
final class CheckerProcess: @unchecked Sendable {
    let script: String
    let timeout: Double
    /// The command that runs `elixir <script>` (a sandbox wrapper for code that runs candidates).
    let launcher: [String]
    /// Answers are tagged `EC \t id \t json`, and other lines skipped: the compile worker runs
    /// candidate code, whose own output must not pass for an answer.
    let taggedAnswers: Bool
    /// What runs after the launcher (default `elixir <script>`; the tool server: `mix run --no-start <script>`).
    let command: [String]
    /// Where it runs (the tool server: the user's Mix project); nil: this process's directory.
    let directory: URL?
    private var process: Process?
    private var input: FileHandle?
    private var output: FileHandle?
    private var pending = Data()
    private var counter = 0
    /// Serializes requests to this process; blocking pipe reads happen here, off the cooperative pool.
    let queue: DispatchQueue
    private(set) var starts = 0

    init(script: String, timeout: Double, label: String, launcher: [String] = ["/usr/bin/env"], taggedAnswers: Bool = false,
         command: [String]? = nil, directory: URL? = nil) {
        self.script = script
        self.timeout = timeout
        self.launcher = launcher
        self.taggedAnswers = taggedAnswers
        self.command = command ?? ["elixir", script]
        self.directory = directory
        queue = DispatchQueue(label: label)
    }

    deinit { process?.terminate() }

    /// Sends one request; returns the raw JSON answer. Runs on `queue`.
    func request(_ command: CheckerCommand, code: String, argument: String) throws -> Data {
        if process?.isRunning != true { try start() }
        guard let input, let output, let process else { throw CheckerError(.unavailable, "the checker process is not running") }
        counter += 1
        let line = "\(counter)\t\(command.rawValue)\t\(Data(code.utf8).base64EncodedString())\t\(argument)\n"
        let pid = process.processIdentifier
        var timedOut = false
        let watchdog = DispatchWorkItem { timedOut = true; kill(pid, SIGKILL) }
        DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: watchdog)
        defer { watchdog.cancel() }
        do { try input.write(contentsOf: Data(line.utf8)) } catch {
            self.process = nil
            throw CheckerError(.crashed, "the Elixir checker stopped accepting requests; it restarts on the next one")
        }
        let tag = Data("EC\t\(counter)\t".utf8)
        // Where the search for the line's end resumes: rescanning from the start after every
        // chunk made a 6 MB answer (a large file's findings) take most of a minute.
        var searched = 0
        while true {
            if let nl = pending[(pending.startIndex + searched)...].firstIndex(of: 10) {
                let answer = Data(pending[pending.startIndex..<nl])
                pending = Data(pending[(nl + 1)...])
                searched = 0
                guard taggedAnswers else { return answer }
                if answer.starts(with: tag) { return answer.dropFirst(tag.count) }
                continue
            }
            searched = pending.count
            let chunk = output.availableData
            if chunk.isEmpty {
                self.process = nil
                if timedOut { throw CheckerError(.timedOut, "the Elixir checker took longer than \(timeout) s and was restarted") }
                throw CheckerError(.crashed, "the Elixir checker crashed; it restarts on the next request")
            }
            pending += chunk
        }
    }

    /// Starts the process in the background, so the first request does not wait for Elixir
    /// to boot (about a second); requests sent meanwhile queue behind it.
    func warmUp() {
        queue.async {
            if self.process?.isRunning != true { try? self.start() }
        }
    }

    /// Kills the process and waits for it (fault drills). Runs on `queue`.
    func terminate() {
        guard let p = process else { return }
        Glibc.kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
    }

    private func start() throws {
        // The ends of the last process's pipes stay open until closed (one descriptor leaked
        // per restart otherwise).
        try? input?.close()
        try? output?.close()
        input = nil
        output = nil
        let p = Process()
        p.executableURL = URL(fileURLWithPath: launcher[0])
        p.arguments = Array(launcher.dropFirst()) + command
        p.currentDirectoryURL = directory
        let inPipe = Pipe(), outPipe = Pipe()
        p.standardInput = inPipe
        p.standardOutput = outPipe
        p.standardError = FileHandle.nullDevice
        do { try p.run() } catch {
            throw CheckerError(.unavailable, "cannot start elixir (install it with: apt-get install elixir, or run make setup): \(error)")
        }
        process = p
        input = inPipe.fileHandleForWriting
        output = outPipe.fileHandleForReading
        pending = Data()
        starts += 1
    }
}

/// What a checker or compile-worker process is asked to do: a request line's second field.
public enum CheckerCommand: String, Sendable, CaseIterable {
    /// Syntax, format, facts and built-in findings at once.
    case all, syntax, format, facts
    /// Whether a prefix can still become a program.
    case viable
    /// The built-in rules alone; on a prefix (closed first).
    case rules, prefixrules
    /// Close a cut-off program.
    case close
    /// The compile worker: compile and run examples; search library compositions.
    case compile, synth
    /// The tool server: `mix credo` / `mix sobelow` in the user's project.
    case credo, sobelow
}

/// What a piece of code is: a module, or a config file (which turns on the hard-coded-secrets rule).
public enum SourceKind: String, Sendable, CaseIterable {
    case code, config
}
