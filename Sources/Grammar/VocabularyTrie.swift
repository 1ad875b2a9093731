/// The vocabulary as a byte trie in depth-first order, so a subtree is a contiguous
/// range of nodes and walking it shares the work of common prefixes.
struct VocabularyTrie: Sendable {
    var byte: [UInt8] = [0]
    var firstChild: [Int32] = [-1]
    var nextSibling: [Int32] = [-1]
    /// One past the last node of each node's subtree.
    var subtreeEnd: [Int32] = [1]
    /// First token whose bytes end at a node, or -1; further ones chain through `tokenNext`.
    var tokenAt: [Int32] = [-1]
    var tokenNext: [Int32]
    let tokenBytes: [[UInt8]]

    /// - Parameter tokenBytes: each token's bytes; empty ones (control tokens) are left out.
    init(tokenBytes: [[UInt8]]) {
        self.tokenBytes = tokenBytes
        tokenNext = Array(repeating: -1, count: tokenBytes.count)
        let order = tokenBytes.indices.filter { !tokenBytes[$0].isEmpty }.sorted { tokenBytes[$0].lexicographicallyPrecedes(tokenBytes[$1]) }
        var path: [Int32] = [0] // nodes from the root along the current bytes
        var lastChild: [Int32] = [-1]
        var prev: [UInt8] = []
        for id in order {
            let b = tokenBytes[id]
            var common = 0
            while common < b.count, common < prev.count, b[common] == prev[common] { common += 1 }
            while path.count > common + 1 {
                let n = path.removeLast()
                subtreeEnd[Int(n)] = Int32(byte.count)
            }
            for k in common..<b.count {
                let node = Int32(byte.count)
                byte.append(b[k])
                firstChild.append(-1)
                nextSibling.append(-1)
                subtreeEnd.append(0)
                tokenAt.append(-1)
                lastChild.append(-1)
                let parent = path[path.count - 1]
                if lastChild[Int(parent)] >= 0 { nextSibling[Int(lastChild[Int(parent)])] = node } else { firstChild[Int(parent)] = node }
                lastChild[Int(parent)] = node
                path.append(node)
            }
            let end = path[path.count - 1]
            tokenNext[id] = tokenAt[Int(end)]
            tokenAt[Int(end)] = Int32(id)
            prev = b
        }
        while let n = path.popLast() { subtreeEnd[Int(n)] = Int32(byte.count) }
    }

    /// Tokens whose bytes are a prefix of `text`, shortest first, with their lengths.
    func prefixes(of text: ArraySlice<UInt8>) -> [(token: Int, length: Int)] {
        var out: [(Int, Int)] = []
        var node: Int32 = 0
        var depth = 0
        for b in text {
            var c = firstChild[Int(node)]
            while c >= 0, byte[Int(c)] != b { c = nextSibling[Int(c)] }
            if c < 0 { break }
            node = c
            depth += 1
            var t = tokenAt[Int(node)]
            while t >= 0 { out.append((Int(t), depth)); t = tokenNext[Int(t)] }
        }
        return out
    }

    /// Tokens needed to spell `text` taking the longest token each time.
    func greedyCount(_ text: ArraySlice<UInt8>) -> Int {
        var rest = text
        var n = 0
        while !rest.isEmpty {
            let longest = prefixes(of: rest).last?.length ?? 1
            rest = rest.dropFirst(longest)
            n += 1
        }
        return n
    }
}
