import Foundation

/// A real tool that a Mix project can hold in its `deps/`.
public enum RealTool: String, Sendable, CaseIterable {
    case credo, sobelow

    /// The findings' source, the same as the built-in rules that stand in for the tool.
    public var source: FindingSource { self == .credo ? .credo : .sobelow }
    /// How a note names it.
    public var displayName: String { self == .credo ? "Credo" : "Sobelow" }
}

/// A Mix project on disk, and which of the real tools its `deps/` holds.
public struct MixProject: Sendable, Equatable {
    /// Names the project to use instead of the one found from the file upwards.
    public static let overrideVariable = "ELIXIR_CODER_MIX_PROJECT"
    public let root: URL
    public let tools: [RealTool]

    public init(root: URL) {
        self.root = root.standardizedFileURL
        let fm = FileManager.default
        tools = RealTool.allCases.filter { fm.fileExists(atPath: root.appendingPathComponent("deps/\($0.rawValue)/mix.exs").path) }
    }

    /// The project that judges a file: `ELIXIR_CODER_MIX_PROJECT` when set; else, from the file's folder
    /// (the current directory for standard input) upwards, the nearest folder with a `mix.exs` whose
    /// `deps/` holds a tool, or failing that the nearest with a `mix.exs` (an umbrella's apps keep
    /// their deps at its root). Nil when no folder above has a `mix.exs`.
    public static func locate(for path: String?, environment: [String: String] = ProcessInfo.processInfo.environment) -> MixProject? {
        if let override = environment[overrideVariable], !override.isEmpty { return MixProject(root: URL(fileURLWithPath: override)) }
        let fm = FileManager.default
        var dir = path.map { URL(fileURLWithPath: $0).standardizedFileURL.deletingLastPathComponent() }
            ?? URL(fileURLWithPath: fm.currentDirectoryPath).standardizedFileURL
        var nearest: MixProject?
        while true {
            if fm.fileExists(atPath: dir.appendingPathComponent("mix.exs").path) {
                let project = MixProject(root: dir)
                if !project.tools.isEmpty { return project }
                nearest = nearest ?? project
            }
            if dir.path == "/" { return nearest }
            dir = dir.deletingLastPathComponent()
        }
    }

    /// The path a tool running in the project names `file` by: relative to the root when inside it.
    func relativePath(_ file: String) -> String {
        let path = URL(fileURLWithPath: file).standardizedFileURL.path
        return path.hasPrefix(root.path + "/") ? String(path.dropFirst(root.path.count + 1)) : path
    }

    /// Whether a tool's file name (Credo's relative one, Sobelow's root-joined one without the leading
    /// `/`) is `file`.
    func names(_ toolFile: String, _ file: String) -> Bool {
        var name = toolFile
        while name.hasPrefix("./") { name.removeFirst(2) }
        let path = URL(fileURLWithPath: file).standardizedFileURL.path
        return path == root.appendingPathComponent(name).standardizedFileURL.path || path == "/" + name || path.hasSuffix("/" + name)
    }
}

/// A file handed to the checks: its path, and its text when that is not (yet) what is on disk.
public struct CheckedFile: Sendable, Equatable {
    public var path: String?
    public var text: String

    public init(path: String?, text: String) {
        self.path = path
        self.text = text
    }
}

/// The real Credo and Sobelow of Mix projects, run warm: one tool server per project (a BEAM that
/// `mix run` started in it, so its deps are loaded), which runs `mix credo` and `mix sobelow` request
/// after request. A cold `mix credo` costs about 1.2 s; a warm run, the check alone.
public actor RealTools {
    /// Seconds one run may take, the server's boot (which compiles the project) included.
    public let timeout: Double
    /// By the project's root path.
    private var servers: [String: CheckerProcess] = [:]

    public init(timeout: Double = 120) {
        self.timeout = timeout
    }

    /// One run of `tool` on a batch of the project's files; its findings by the file's index in
    /// `files`. Credo reads a lone file from standard input (so an editor's unsaved text is checked),
    /// a batch from disk; Sobelow scans the project as it does, and the findings in these files are
    /// kept. Throws a `CheckerError` saying what went wrong when the tool fails.
    public func run(_ tool: RealTool, in project: MixProject, files: [CheckedFile], options: CheckOptions) async throws -> [Int: [Finding]] {
        let paths = files.map { $0.path.map(project.relativePath) ?? "stdin.ex" }
        var arguments = ["--format", "json"]
        var input = ""
        switch tool {
        case .credo:
            // Without --strict, Credo decides from its .credo.exs, as `mix credo` does.
            if options.strict != false { arguments.append("--strict") }
            if files.count == 1 {
                arguments += ["--read-from-stdin", paths[0]]
                input = files[0].text
            } else {
                arguments += paths
            }
        case .sobelow:
            // --private: no update check (nothing may reach the network).
            arguments.append("--private")
            if options.sobelowSkip { arguments.append("--skip") }
            if FileManager.default.fileExists(atPath: project.root.appendingPathComponent(".sobelow-conf").path) { arguments.append("--config") }
        }
        let answer = try await request(tool, in: project, input: input, arguments: arguments)
        let byFile = try tool == .credo ? CredoReport.parseByFile(answer) : SobelowReport.parseByFile(answer)
        var out: [Int: [Finding]] = [:]
        for (name, finding) in byFile {
            guard let index = files.indices.first(where: { i in
                name.map { n in files[i].path.map { project.names(n, $0) } ?? (n == paths[i]) } ?? (files.count == 1)
            }) else { continue }
            out[index, default: []].append(finding)
        }
        return out
    }

    /// The tool's JSON output: from the first line that opens an object (Sobelow warns before it).
    private func request(_ tool: RealTool, in project: MixProject, input: String, arguments: [String]) async throws -> Data {
        let server = try self.server(for: project)
        let argument = Data(arguments.joined(separator: "\n").utf8).base64EncodedString()
        let command: CheckerCommand = tool == .credo ? .credo : .sobelow
        let raw = try await withCheckedThrowingContinuation { (cont: CheckedContinuation<Data, Error>) in
            server.queue.async { cont.resume(with: Result { try server.request(command, code: input, argument: argument) }) }
        }
        let fields = String(decoding: raw, as: UTF8.self).split(separator: "\t", maxSplits: 1)
        guard fields.count == 2, let status = Int(fields[0]), let printed = Data(base64Encoded: String(fields[1])) else {
            throw CheckerError(.badResponse, "the tool server answered something unreadable")
        }
        let text = String(decoding: printed, as: UTF8.self)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard let start = lines.firstIndex(where: { $0.hasPrefix("{") }) else {
            let said = lines.first { !$0.trimmingCharacters(in: .whitespaces).isEmpty }.map { ": \($0.prefix(160))" } ?? ""
            throw CheckerError(.badResponse, "mix \(tool.rawValue) exited with status \(status) and printed no JSON\(said)")
        }
        return Data(lines[start...].joined(separator: "\n").utf8)
    }

    /// Tool servers started so far, restarts included: one per project while they stay up.
    public var serverStarts: Int {
        servers.values.reduce(0) { total, p in total + p.queue.sync { p.starts } }
    }

    private func server(for project: MixProject) throws -> CheckerProcess {
        if let server = servers[project.root.path] { return server }
        let script = try CheckerPool.resource("tool_server")
        let server = CheckerProcess(script: script, timeout: timeout, label: "elixir-coder.tools.\(project.root.lastPathComponent)", taggedAnswers: true,
                                    command: ["mix", "run", "--no-start", script], directory: project.root)
        servers[project.root.path] = server
        return server
    }
}

/// What the checks found in one file, and the notes on how (the tools that stood in, what the
/// user's configuration could not say).
public struct CheckedResult: Sendable {
    public var findings: [Finding]
    public var notes: [String]
    /// The notes that say a real tool failed (a subset of `notes`): an editor shows them.
    public var failures: [String]
}

/// The checks `check` and the language server run: the parser, the formatter and the built-in rules,
/// with the real Credo and Sobelow in place of their built-in rules where the file's Mix project
/// has them in `deps/`. A tool that is absent or fails leaves the built-in rules' findings, and a note.
public struct ProjectChecks: Sendable {
    public let pool: CheckerPool
    public let tools: RealTools
    public let environment: [String: String]

    public init(pool: CheckerPool, tools: RealTools = RealTools(), environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.pool = pool
        self.tools = tools
        self.environment = environment
    }

    /// Checks a batch of files: each tool runs once per project for the files of the batch that parse.
    public func check(_ files: [CheckedFile], only: Set<FindingSource>?, options: @Sendable (CheckedFile) -> CheckOptions) async throws -> [CheckedResult] {
        var results: [CheckedResult] = []
        for file in files {
            let checked = try await pool.checked(file.text, only: only, options: options(file))
            results.append(CheckedResult(findings: checked.findings, notes: checked.notes, failures: []))
        }
        // Credo reports nothing on a file that does not parse; the parser's finding says it all.
        let parsed = files.indices.filter { !results[$0].findings.contains { $0.source == .syntax } }
        let wanted = RealTool.allCases.filter { only?.contains($0.source) ?? true }
        guard !wanted.isEmpty else { return results }
        var byProject: [String: (project: MixProject, indices: [Int])] = [:]
        for i in parsed {
            guard let project = MixProject.locate(for: files[i].path, environment: environment) else {
                let names = wanted.map(\.displayName).joined(separator: " and ")
                results[i].notes.append("no Mix project above this file: the built-in \(names) rules stand in")
                continue
            }
            byProject[project.root.path, default: (project, [])].indices.append(i)
        }
        for (project, indices) in byProject.values {
            for tool in wanted {
                guard project.tools.contains(tool) else {
                    for i in indices { results[i].notes.append("\(project.root.path) has no deps/\(tool.rawValue): the built-in \(tool.displayName) rules stand in") }
                    continue
                }
                do {
                    let found = try await tools.run(tool, in: project, files: indices.map { files[$0] }, options: options(files[indices[0]]))
                    for (k, i) in indices.enumerated() {
                        // Our own checks reported in Sobelow's format (no rule id) stay: the real Sobelow has no such check.
                        results[i].findings.removeAll { $0.builtin && $0.source == tool.source && !(tool == .sobelow && $0.ruleID == nil) }
                        results[i].findings += found[k] ?? []
                    }
                } catch {
                    let note = "mix \(tool.rawValue) failed in \(project.root.path) (\(error)): the built-in \(tool.displayName) rules stand in"
                    for i in indices {
                        results[i].notes.append(note)
                        results[i].failures.append(note)
                    }
                }
            }
        }
        return results
    }

    /// Checks one file (or standard input, with no path).
    public func check(_ file: CheckedFile, only: Set<FindingSource>?, options: CheckOptions) async throws -> CheckedResult {
        try await check([file], only: only, options: { _ in options })[0]
    }
}
