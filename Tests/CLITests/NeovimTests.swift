import Foundation
import Testing

/// Runs the plugin in a real headless Neovim against the built server.
enum Neovim {
    static let plugin = CLI.repo.appendingPathComponent("editors/nvim")
    static let script = CLI.repo.appendingPathComponent("Tests/Fixtures/lsp/nvim_session.lua")

    /// Runs the session script in `mode` on copies of the fixtures; what it saw, and the copies' folder.
    static func session(_ mode: String) throws -> (seen: [String: Any], work: URL, status: Int32) {
        let nvim = try #require(["/usr/bin/nvim", "/usr/local/bin/nvim"].first { FileManager.default.isExecutableFile(atPath: $0) },
                                "Neovim is missing: apt-get install neovim (scripts/setup.sh installs it)")
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("ec-nvim-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        for name in ["greeter.ex", "age_sort.ex"] {
            try FileManager.default.copyItem(at: CLI.repo.appendingPathComponent("Tests/Fixtures/lsp/\(name)"), to: work.appendingPathComponent(name))
        }
        let out = work.appendingPathComponent("seen.json")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: nvim)
        p.arguments = ["--headless", "-u", "NONE", "-i", "NONE", "--cmd", "set rtp^=\(plugin.path)", "-c", "luafile \(script.path)"]
        var env = ProcessInfo.processInfo.environment
        env["ELIXIR_CODER_HOME"] = CLI.sharedHome.path
        env["EC_BIN"] = CLI.binary
        env["EC_WORK"] = work.path
        env["EC_OUT"] = out.path
        env["EC_MODE"] = mode
        p.environment = env
        p.standardInput = FileHandle.nullDevice
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        let seen = try JSONSerialization.jsonObject(with: Data(contentsOf: out)) as? [String: Any] ?? [:]
        return (seen, work, p.terminationStatus)
    }

    /// Whether process `pid` has ended (gone, or a zombie nobody reaped).
    static func ended(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return true }
        return stat.split(separator: ")").last?.split(separator: " ").first == "Z"
    }
}

@Suite("the Neovim plugin in a real headless Neovim", .serialized)
struct NeovimTests {
    @Test("diagnostics after open and after an edit, a hover explanation, Implement on a stub that compiles, a cancelled generate that changes nothing")
    func session() throws {
        let (seen, work, _) = try Neovim.session("main")
        defer { try? FileManager.default.removeItem(at: work) }
        #expect(seen["ok"] as? Bool == true, "\(seen["error"] ?? "")")
        #expect(seen["filetype"] as? String == "elixir")
        let opened = seen["after_open"] as? [[String: Any]] ?? []
        #expect(opened.contains { $0["code"] as? String == "DOS.StringToAtom" && $0["line"] as? Int == 5 && $0["source"] as? String == "sobelow" }, "\(opened)")
        #expect(opened.contains { ($0["code"] as? String)?.hasPrefix("Compiler.") == true && $0["line"] as? Int == 9 }, "\(opened)")
        let edited = seen["after_edit"] as? [[String: Any]] ?? []
        #expect(!edited.contains { $0["code"] as? String == "DOS.StringToAtom" }, "\(edited)")
        #expect(edited.contains { ($0["code"] as? String)?.hasPrefix("Compiler.") == true && $0["line"] as? Int == 9 }, "the unused variable stays: \(edited)")
        let hover = seen["hover"] as? String ?? ""
        #expect(hover.contains("DOS.StringToAtom") && hover.contains("### How to fix"), "\(hover)")
        #expect(seen["implemented"] as? Bool == true && seen["implement_error"] is NSNull, "\(seen["implement_error"] ?? "")")
        let filled = try String(contentsOf: work.appendingPathComponent("age_sort.ex"), encoding: .utf8)
        #expect(!filled.contains("# TODO") && filled.contains("def sort_by_age(people) do"), "\(filled)")
        // It compiles with the real Elixir and defines the function. (Whether it is right depends on
        // the model and the search under the time budget; the status says which.)
        let run = try elixir(filled, then: "IO.inspect(function_exported?(AgeSort, :sort_by_age, 1))")
        #expect(run.status == 0 && run.output.contains("true"), "\(run.output)\n\(filled)")
        #expect(seen["progress_began"] as? Bool == true && seen["cancelled"] as? Int == 1 && seen["cancel_answered"] as? Bool == true)
        #expect(seen["cancel_code"] as? Int == -32800, "\(seen["cancel_code"] ?? "")")
        #expect(seen["progress_end"] as? Bool == true, "the server ended the generate's progress as cancelled")
        #expect(seen["unchanged"] as? Bool == true)
    }

    @Test("the server ends by itself when Neovim dies in the middle of a generate")
    func disconnect() throws {
        let (seen, work, _) = try Neovim.session("disconnect")
        defer { try? FileManager.default.removeItem(at: work) }
        let pid = try #require(seen["server_pid"] as? Int, "\(seen)")
        #expect(seen["progress_began"] as? Bool == true, "Neovim died before the generate was running")
        let deadline = Date().addingTimeInterval(15)
        while !Neovim.ended(Int32(pid)) && Date() < deadline { usleep(100_000) }
        #expect(Neovim.ended(Int32(pid)), "the server \(pid) still runs 15 s after its client died")
    }
}
