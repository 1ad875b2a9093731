import Checks
import Foundation

/// A group of AST facts that two programs can agree or differ on.
public enum FactGroup: String, Sendable, Codable, CaseIterable, Comparable {
    case functions
    case imports
    case errorHandling = "error_handling"
    case concurrency
    case dataStructures = "data_structures"
    case dependencies
    /// What the program returned on the task's own examples, when they were run.
    case behaviour

    /// How much a difference in this group separates two programs. Behaviour weighs more than
    /// names: two samples that call their function differently usually still mean the same thing.
    public var weight: Double {
        switch self {
        case .functions: 0.15
        case .imports: 0.1
        case .errorHandling, .concurrency, .dataStructures, .dependencies: 0.1875
        // Different answers on the same inputs are the strongest evidence of different meanings.
        case .behaviour: 0.5
        }
    }

    public static func < (a: FactGroup, b: FactGroup) -> Bool { allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)! }
}

/// What one program does, as sets of facts per group.
public struct FactProfile: Sendable, Codable, Hashable {
    public var values: [FactGroup: Set<String>]

    public init(values: [FactGroup: Set<String>]) {
        self.values = values
    }

    public init(_ f: ASTFacts) {
        values = [
            .functions: Set(f.functions.filter { $0.hasSuffix(" public") }.map { String($0.dropLast(" public".count)) }),
            .imports: Set(f.imports + f.aliases + f.uses),
            .errorHandling: Set(f.errorHandling),
            .concurrency: Set(f.concurrency),
            .dataStructures: Set(f.dataStructures),
            .dependencies: Set(f.dependencies),
        ]
    }

    public subscript(_ g: FactGroup) -> Set<String> { values[g] ?? [] }

    /// Weighted Jaccard distance over the groups, in 0...1.
    public static func distance(_ a: FactProfile, _ b: FactProfile) -> Double {
        FactGroup.allCases.reduce(0) { $0 + $1.weight * jaccardDistance(a[$1], b[$1]) }
    }

    public static func jaccardDistance(_ a: Set<String>, _ b: Set<String>) -> Double {
        let union = a.union(b).count
        return union == 0 ? 0 : 1 - Double(a.intersection(b).count) / Double(union)
    }
}

/// Agglomerative clustering with average linkage: deterministic, no cluster count to guess.
public enum Clustering {
    /// Merges the two closest clusters while their average distance is below `threshold`.
    /// Returns clusters as sorted member indices, largest first (ties: lowest index first).
    public static func cluster(_ profiles: [FactProfile], threshold: Double) -> [[Int]] {
        var clusters = profiles.indices.map { [$0] }
        let d = profiles.map { a in profiles.map { b in FactProfile.distance(a, b) } }
        func linkage(_ x: [Int], _ y: [Int]) -> Double {
            x.reduce(0) { acc, i in acc + y.reduce(0) { $0 + d[i][$1] } } / Double(x.count * y.count)
        }
        while clusters.count > 1 {
            var best: (i: Int, j: Int, d: Double)?
            for i in clusters.indices {
                for j in clusters.indices where j > i {
                    let l = linkage(clusters[i], clusters[j])
                    if best == nil || l < best!.d { best = (i, j, l) }
                }
            }
            guard let b = best, b.d < threshold else { break }
            clusters[b.i] = (clusters[b.i] + clusters[b.j]).sorted()
            clusters.remove(at: b.j)
        }
        return clusters.sorted { ($0.count, -($0.first ?? 0)) > ($1.count, -($1.first ?? 0)) }
    }
}

/// Entropy arithmetic for semantic entropy.
public enum SemanticEntropy {
    /// H = -Σ p log p (nats) of a distribution; zero masses are skipped.
    public static func entropy(_ p: [Double]) -> Double {
        let total = p.reduce(0, +)
        guard total > 0 else { return 0 }
        return -p.reduce(0) { acc, x in
            let q = x / total
            return q > 0 ? acc + q * log(q) : acc
        }
    }

    /// Cluster probabilities from how many samples each holds.
    public static func frequencies(_ clusters: [[Int]]) -> [Double] {
        let n = Double(clusters.reduce(0) { $0 + $1.count })
        return clusters.map { Double($0.count) / max(1, n) }
    }

    /// Cluster probabilities weighted by each sample's length-normalized likelihood exp(mean log p).
    public static func likelihoods(_ clusters: [[Int]], meanLogprobs: [Double]) -> [Double] {
        let w = clusters.map { c in c.reduce(0) { $0 + exp(meanLogprobs[$1]) } }
        let total = w.reduce(0, +)
        return w.map { total > 0 ? $0 / total : 0 }
    }
}

/// The facts a cluster's members mostly share, per group.
public struct ClusterSignature: Sendable, Codable, Equatable {
    public var values: [FactGroup: [String]]

    /// Values held by at least half of the members.
    public init(members: [FactProfile]) {
        var v: [FactGroup: [String]] = [:]
        for g in FactGroup.allCases {
            var counts: [String: Int] = [:]
            for m in members { for x in m[g] { counts[x, default: 0] += 1 } }
            v[g] = counts.filter { Double($0.value) * 2 >= Double(members.count) }.keys.sorted()
        }
        values = v
    }

    public subscript(_ g: FactGroup) -> [String] { values[g] ?? [] }
}
