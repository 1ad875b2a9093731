import Foundation

/// Facts about the running build.
public enum BuildInfo {
    public static let version = "0.1.0"

    /// The commit of the checkout the executable was built in, read from `.git` without running git; nil when unknown.
    public static func gitCommit(executable: String? = Bundle.main.executablePath) -> String? {
        guard let executable else { return nil }
        var dir = URL(fileURLWithPath: executable).resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<8 {
            let git = dir.appendingPathComponent(".git")
            if let head = try? String(contentsOf: git.appendingPathComponent("HEAD"), encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines) {
                guard head.hasPrefix("ref: ") else { return head }
                let ref = String(head.dropFirst(5))
                if let c = try? String(contentsOf: git.appendingPathComponent(ref), encoding: .utf8) { return c.trimmingCharacters(in: .whitespacesAndNewlines) }
                let packed = (try? String(contentsOf: git.appendingPathComponent("packed-refs"), encoding: .utf8)) ?? ""
                return packed.split(separator: "\n").first { $0.hasSuffix(" " + ref) }.map { String($0.prefix(40)) }
            }
            dir = dir.deletingLastPathComponent()
        }
        return nil
    }
}
