import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Debian's Chromium, headless, driven through the DevTools protocol over
/// `--remote-debugging-pipe`: commands go to the browser's fd 3 and answers come from its fd 4,
/// each a JSON message ended by a NUL byte. No WebSocket and no driver binary needed.
final class HeadlessChromium {
    struct Failure: Error, CustomStringConvertible {
        let message: String
        var description: String { message }
    }

    static let binary = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first { FileManager.default.isExecutableFile(atPath: $0) }

    private let pid: pid_t
    private let commands: Int32
    private let answers: Int32
    private var buffer: [UInt8] = []
    private var nextID = 1
    private var session: String?
    private let profile: URL

    /// Starts the browser with a fresh profile; its messages go to `log`.
    init(log: URL) throws {
        guard let binary = Self.binary else { throw Failure(message: "Chromium is not installed: apt-get install chromium (scripts/setup.sh does)") }
        profile = FileManager.default.temporaryDirectory.appendingPathComponent("ec-chromium-\(UUID().uuidString)")
        var toBrowser: [Int32] = [0, 0], fromBrowser: [Int32] = [0, 0]
        guard pipe(&toBrowser) == 0, pipe(&fromBrowser) == 0 else { throw Failure(message: "pipe failed") }
        // Every end moves above 9, close-on-exec: were one of them fd 3 or 4 already, the dup2s
        // below would close or overwrite it, and only the dup2 copies may reach the browser.
        for (pipe, end) in [(0, 0), (1, 1)] {
            let old = pipe == 0 ? toBrowser[end] : fromBrowser[end]
            let moved = fcntl(old, F_DUPFD_CLOEXEC, 10)
            Glibc.close(old)
            if pipe == 0 { toBrowser[end] = moved } else { fromBrowser[end] = moved }
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        // dup2 clears close-on-exec on the copies, so only fds 3 and 4 reach the browser.
        posix_spawn_file_actions_adddup2(&actions, toBrowser[0], 3)
        posix_spawn_file_actions_adddup2(&actions, fromBrowser[1], 4)
        posix_spawn_file_actions_addopen(&actions, 1, log.path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let arguments = [binary, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                         "--no-default-browser-check", "--disable-extensions", "--remote-debugging-pipe",
                         "--user-data-dir=\(profile.path)", "--window-size=1280,800", "about:blank"]
        let argv = arguments.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var child: pid_t = 0
        let spawned = posix_spawn(&child, binary, &actions, nil, argv, environ)
        Glibc.close(toBrowser[0])
        Glibc.close(fromBrowser[1])
        guard spawned == 0 else { throw Failure(message: "cannot start \(binary): \(String(cString: strerror(spawned)))") }
        pid = child
        commands = toBrowser[1]
        answers = fromBrowser[0]
    }

    private var quitted = false

    deinit { quit() }

    /// Ends the browser and removes its profile.
    func quit() {
        guard !quitted else { return }
        quitted = true
        kill(pid, SIGTERM)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        Glibc.close(commands)
        Glibc.close(answers)
        try? FileManager.default.removeItem(at: profile)
    }

    /// Sends a command (to the page once one is open) and returns its result.
    @discardableResult
    func send(_ method: String, _ params: [String: Any] = [:], toBrowser: Bool = false, timeout: Double = 30) throws -> [String: Any] {
        let id = nextID
        nextID += 1
        var message: [String: Any] = ["id": id, "method": method, "params": params]
        if !toBrowser, let session { message["sessionId"] = session }
        var bytes = [UInt8](try JSONSerialization.data(withJSONObject: message))
        bytes.append(0)
        guard bytes.withUnsafeBytes({ write(commands, $0.baseAddress, $0.count) }) == bytes.count else { throw Failure(message: "the browser's pipe is closed") }
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let answer = try nextMessage(until: deadline)
            guard answer["id"] as? Int == id else { continue }
            if let error = answer["error"] as? [String: Any] { throw Failure(message: "\(method): \(error["message"] ?? error)") }
            return answer["result"] as? [String: Any] ?? [:]
        }
    }

    private func nextMessage(until deadline: Date) throws -> [String: Any] {
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            if let end = buffer.firstIndex(of: 0) {
                let body = Data(buffer[..<end])
                buffer.removeSubrange(...end)
                return try JSONSerialization.jsonObject(with: body) as? [String: Any] ?? [:]
            }
            let left = Int32(max(0, deadline.timeIntervalSinceNow) * 1000)
            guard left > 0 else { throw Failure(message: "the browser did not answer in time") }
            var p = pollfd(fd: answers, events: Int16(POLLIN), revents: 0)
            guard poll(&p, 1, left) > 0 else { continue }
            let n = read(answers, &chunk, chunk.count)
            guard n > 0 else { throw Failure(message: "the browser closed its pipe") }
            buffer += chunk[0..<n]
        }
    }

    /// Opens a page at `url` in a window of `width` by `height` CSS pixels.
    func open(_ url: String, width: Int = 1280, height: Int = 800) throws {
        let target = try send("Target.createTarget", ["url": "about:blank"], toBrowser: true)
        let attached = try send("Target.attachToTarget", ["targetId": target["targetId"] as Any, "flatten": true], toBrowser: true)
        session = attached["sessionId"] as? String
        try resize(width: width, height: height)
        try send("Page.navigate", ["url": url])
    }

    /// Emulates a window of this size (a phone-narrow one when `width` is small).
    func resize(width: Int, height: Int) throws {
        try send("Emulation.setDeviceMetricsOverride", ["width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600])
    }

    /// The value of a JavaScript expression in the page (promises awaited).
    func evaluate(_ expression: String) throws -> Any? {
        let result = try send("Runtime.evaluate", ["expression": expression, "returnByValue": true, "awaitPromise": true])
        if let exception = result["exceptionDetails"] as? [String: Any] { throw Failure(message: "\(expression.prefix(80)): \(exception)") }
        return (result["result"] as? [String: Any])?["value"]
    }

    /// A JSON value the page computes (the expression must return `JSON.stringify(...)`).
    func json(_ expression: String) throws -> Any {
        guard let text = try evaluate(expression) as? String else { throw Failure(message: "\(expression.prefix(80)) gave no JSON text") }
        return try JSONSerialization.jsonObject(with: Data(text.utf8), options: .fragmentsAllowed)
    }

    /// Waits until the expression is true in the page, polling every 100 ms.
    func wait(for expression: String, within seconds: Double, _ what: String) async throws {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if (try? evaluate(expression)) as? Bool == true { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw Failure(message: "waited \(Int(seconds)) s for \(what)")
    }

    /// A PNG of what the window shows now.
    func screenshot(to file: URL) throws {
        let shot = try send("Page.captureScreenshot", ["format": "png"])
        guard let base64 = shot["data"] as? String, let png = Data(base64Encoded: base64) else { throw Failure(message: "no screenshot data") }
        try png.write(to: file)
    }
}
