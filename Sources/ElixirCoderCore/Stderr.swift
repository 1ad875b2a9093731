import Foundation

/// Diagnostics and progress go to stderr, never stdout (which carries answers and protocol messages).
public enum Stderr {
    public static func print(_ s: String) {
        FileHandle.standardError.write(Data((s + "\n").utf8))
    }
}
