import Engine

/// Named model instances (embedded or remote) behind one router: A/B weights, stable key hashing,
/// least-loaded balancing between replicas of the same model.
public actor ServingPool {
    /// One instance and how routing treats it.
    struct Entry {
        let instance: any InferenceBackend
        /// Replicas share a variant name; routing weights apply per variant.
        let variant: String
        let weight: Double
    }

    private var entries: [Entry] = []

    public init() {}

    /// Adds an instance as a replica of `variant` (default: the instance's own name).
    public func register(_ instance: any InferenceBackend, variant: String? = nil, weight: Double = 1) {
        entries.append(Entry(instance: instance, variant: variant ?? instance.name, weight: max(0, weight)))
    }

    public var instanceNames: [String] { entries.map(\.instance.name) }

    /// Picks an instance: by instance or variant name when given; else a variant by
    /// weight (stable for a given `key`), then its least-loaded replica.
    public func route(name: String? = nil, key: String? = nil) throws -> any InferenceBackend {
        guard !entries.isEmpty else { throw ServingError(.unknownInstance, "no model instances are registered") }
        if let name {
            if let e = entries.first(where: { $0.instance.name == name }) { return e.instance }
            let replicas = entries.filter { $0.variant == name }
            guard !replicas.isEmpty else {
                throw ServingError(.unknownInstance, "no instance or variant named '\(name)'; known: \(Set(entries.flatMap { [$0.instance.name, $0.variant] }).sorted().joined(separator: ", "))")
            }
            return leastLoaded(replicas)
        }
        var variants: [(String, Double)] = []
        for e in entries where !variants.contains(where: { $0.0 == e.variant }) { variants.append((e.variant, e.weight)) }
        let total = variants.reduce(0) { $0 + $1.1 }
        let point = total * (key.map { Double(Self.stableHash($0) % 1_000_000) / 1_000_000 } ?? Double.random(in: 0..<1))
        var acc = 0.0
        var chosen = variants[0].0
        for (v, w) in variants {
            acc += w
            if point < acc { chosen = v; break }
        }
        return leastLoaded(entries.filter { $0.variant == chosen })
    }

    private func leastLoaded(_ replicas: [Entry]) -> any InferenceBackend {
        replicas.min { $0.instance.load < $1.instance.load }!.instance
    }

    /// FNV-1a: the same key lands on the same variant in every process.
    static func stableHash(_ s: String) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in s.utf8 {
            h ^= UInt64(b)
            h = h &* 0x0000_0100_0000_01B3
        }
        return h
    }

    /// Stops every instance.
    public func shutdown() {
        for e in entries { e.instance.shutdown() }
    }
}
