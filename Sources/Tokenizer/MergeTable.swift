import GGUF

/// BPE merge ranks keyed by the pair of token ids they join.
struct MergeTable: Sendable {
    /// (left << 32 | right) -> (rank << 32 | merged id)
    private let table: [UInt64: UInt64]

    init(merges: [String], ids: [String: Int32], path: String) throws {
        var table: [UInt64: UInt64] = [:]
        table.reserveCapacity(merges.count)
        for (rank, m) in merges.enumerated() {
            // A merge line is "left right"; the split is at the first space because
            // byte-level spellings never contain a literal space.
            guard let space = m.firstIndex(of: " ") else {
                throw GGUFError(.corrupt, path: path, "merge #\(rank) '\(m)' has no space")
            }
            let left = String(m[..<space]), right = String(m[m.index(after: space)...])
            guard let l = ids[left], let r = ids[right], let merged = ids[left + right] else {
                throw GGUFError(.corrupt, path: path, "merge #\(rank) '\(m)' names tokens that are not in the vocabulary")
            }
            let key = UInt64(UInt32(l)) << 32 | UInt64(UInt32(r))
            if table[key] == nil { table[key] = UInt64(rank) << 32 | UInt64(UInt32(merged)) }
        }
        self.table = table
    }

    /// Merges `symbols` in place, lowest rank first, until no pair has a merge.
    /// - Complexity: O(n²) in the pre-token length, which is short in practice.
    func apply(_ symbols: inout [Int32]) {
        while symbols.count > 1 {
            var best = UInt64.max
            var at = -1
            for i in 0..<(symbols.count - 1) {
                let key = UInt64(UInt32(symbols[i])) << 32 | UInt64(UInt32(symbols[i + 1]))
                if let v = table[key], v < best {
                    best = v
                    at = i
                }
            }
            if at < 0 { return }
            symbols[at] = Int32(truncatingIfNeeded: best & 0xFFFF_FFFF)
            symbols.remove(at: at + 1)
        }
    }
}
