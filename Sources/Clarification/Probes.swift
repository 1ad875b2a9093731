import Checks
import Foundation

/// Probe calls built from the samples' own signature: the public function most samples define,
/// called on boundary values of the common types, so that programs which look alike but treat
/// empty, zero, negative or ill-typed input differently come apart.
enum Probes {
    /// One-argument probes: empty and small collections, strings, numbers at zero and below, nil.
    static let single = ["[]", "[3, 1, 2]", "\"\"", "\"abc\"", "0", "-1", "7", "nil", "%{}"]
    /// Two-argument probes.
    static let pairs = ["[], 2", "[1, 2, 3], 2", "0, 0", "1, -1", "10, 3", "\"a\", \"b\"", "nil, nil"]

    /// Calls of `module`'s most common public function (`name/arity` sets, one per sample); none
    /// for arities other than 1 and 2. The expected value is a placeholder: only what a call gives is compared.
    static func calls(module: String, functions: [Set<String>]) -> [Example] {
        var counts: [String: Int] = [:]
        for f in functions { for x in f { counts[x, default: 0] += 1 } }
        guard let best = counts.max(by: { ($0.value, $1.key) < ($1.value, $0.key) })?.key, let slash = best.lastIndex(of: "/"),
              let arity = Int(best[best.index(after: slash)...]) else { return [] }
        let name = best[..<slash]
        let args = arity == 1 ? single : arity == 2 ? pairs : []
        return args.map { Example(expression: "\(module).\(name)(\($0))", expected: "nil") }
    }
}
