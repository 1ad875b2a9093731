import Foundation

/// A labelled task for training: its embedding, whether it is ambiguous and of which kind.
public struct LabelledEmbedding: Sendable {
    public var embedding: [Float]
    public var ambiguous: Bool
    public var kind: AmbiguityType?

    public init(embedding: [Float], ambiguous: Bool, kind: AmbiguityType?) {
        self.embedding = embedding
        self.ambiguous = ambiguous
        self.kind = kind
    }
}

/// Logistic regression over the model's embedding of a task: "is it ambiguous?" (binary) and
/// "of which kind?" (softmax over the kinds), trained on the development part of the labelled set.
///
/// Stored as JSON (`templates/clarify_classifier.json`) so that the weights are reviewed and
/// versioned with the code that reads them; `elixir-coder-bench clarify --train` writes it.
public struct TaskClassifier: Sendable, Codable, Equatable {
    /// Per-feature mean and scale of the training embeddings: features are standardized first.
    public var mean: [Float]
    public var scale: [Float]
    public var ambiguityWeights: [Float]
    public var ambiguityBias: Float
    /// Ask when P(ambiguous) is at least this (chosen by cross-validation on the development part).
    public var threshold: Double
    /// The kinds, in the order of `kindWeights`' rows.
    public var kinds: [AmbiguityType]
    public var kindWeights: [[Float]]
    public var kindBias: [Float]
    /// L2 penalty the weights were trained with.
    public var lambda: Double
    /// How the weights were made (tasks, folds, cross-validated figures), for the record.
    public var provenance: String

    /// Where the weights live, in the templates directory.
    public static let fileName = "clarify_classifier.json"

    /// The embedding width the weights expect.
    public var dimension: Int { mean.count }

    /// P(ambiguous) for an embedding.
    public func ambiguity(_ x: [Float]) -> Double {
        Self.sigmoid(Self.dot(ambiguityWeights, standardize(x)) + Double(ambiguityBias))
    }

    /// P(kind | ambiguous) for each kind, summing to 1.
    public func kindProbabilities(_ x: [Float]) -> [AmbiguityType: Double] {
        let z = standardize(x)
        let p = Self.softmax(kindWeights.indices.map { Self.dot(kindWeights[$0], z) + Double(kindBias[$0]) })
        return Dictionary(uniqueKeysWithValues: zip(kinds, p))
    }

    func standardize(_ x: [Float]) -> [Float] {
        precondition(x.count == mean.count, "embedding of width \(x.count), the classifier expects \(mean.count)")
        return x.indices.map { (x[$0] - mean[$0]) / scale[$0] }
    }

    public init(mean: [Float], scale: [Float], ambiguityWeights: [Float], ambiguityBias: Float, threshold: Double, kinds: [AmbiguityType],
                kindWeights: [[Float]], kindBias: [Float], lambda: Double, provenance: String) {
        self.mean = mean
        self.scale = scale
        self.ambiguityWeights = ambiguityWeights
        self.ambiguityBias = ambiguityBias
        self.threshold = threshold
        self.kinds = kinds
        self.kindWeights = kindWeights
        self.kindBias = kindBias
        self.lambda = lambda
        self.provenance = provenance
    }

    public init(file: URL) throws {
        do {
            self = try JSONDecoder().decode(TaskClassifier.self, from: Data(contentsOf: file))
        } catch {
            throw ClarificationError("\(file.path): not a valid clarification classifier (\(error)); retrain it with `elixir-coder-bench clarify --train`")
        }
        guard !mean.isEmpty, scale.count == mean.count, ambiguityWeights.count == mean.count, kindWeights.count == kinds.count,
              kindBias.count == kinds.count, kindWeights.allSatisfy({ $0.count == mean.count }) else {
            throw ClarificationError("\(file.path): the classifier's weights do not have matching widths; retrain it with `elixir-coder-bench clarify --train`")
        }
    }

    // MARK: - Training

    /// Fits both models on `examples` with L2 penalty `lambda`; deterministic (full-batch gradient descent from zero).
    /// - Complexity: O(iterations × examples × dimension).
    /// - Parameter emphasis: the last `emphasis.count` features are multiplied by `emphasis.factor` after
    ///   standardizing: a smaller effective penalty for a few informative inputs among a thousand
    ///   embedding dimensions. It is folded into `scale`, so reading the weights needs nothing new.
    public static func train(_ examples: [LabelledEmbedding], kinds: [AmbiguityType], lambda: Double, threshold: Double = 0.5,
                             emphasis: (count: Int, factor: Float) = (0, 1), iterations: Int = 400, provenance: String = "") -> TaskClassifier {
        let d = examples.first?.embedding.count ?? 0
        var mean = [Float](repeating: 0, count: d), scale = [Float](repeating: 0, count: d)
        let n = Float(max(1, examples.count))
        for e in examples { for j in 0..<d { mean[j] += e.embedding[j] / n } }
        for e in examples { for j in 0..<d { scale[j] += (e.embedding[j] - mean[j]) * (e.embedding[j] - mean[j]) / n } }
        // A floor keeps near-constant features from blowing up.
        scale = scale.map { max($0.squareRoot(), 1e-4) }
        for j in max(0, d - emphasis.count)..<d { scale[j] /= emphasis.factor }
        let z = examples.map { e in (0..<d).map { (e.embedding[$0] - mean[$0]) / scale[$0] } }
        let (w, b) = fitSoftmax(z, labels: examples.map { $0.ambiguous ? 1 : 0 }, classes: 2, lambda: lambda, iterations: iterations)
        // Two-class softmax is logistic regression with the difference of the two rows.
        let ambW = zip(w[1], w[0]).map { $0 - $1 }, ambB = b[1] - b[0]
        let kinded = examples.indices.filter { examples[$0].ambiguous && examples[$0].kind.map(kinds.contains) == true }
        let (kw, kb) = fitSoftmax(kinded.map { z[$0] }, labels: kinded.map { kinds.firstIndex(of: examples[$0].kind!)! },
                                  classes: kinds.count, lambda: lambda, iterations: iterations)
        return TaskClassifier(mean: mean, scale: scale, ambiguityWeights: ambW, ambiguityBias: ambB, threshold: threshold, kinds: kinds,
                              kindWeights: kw, kindBias: kb, lambda: lambda, provenance: provenance)
    }

    /// Multinomial logistic regression by full-batch gradient descent on the mean log loss plus λ/2 |W|².
    static func fitSoftmax(_ x: [[Float]], labels: [Int], classes k: Int, lambda: Double, iterations: Int) -> ([[Float]], [Float]) {
        let d = x.first?.count ?? 0
        var w = [[Double]](repeating: [Double](repeating: 0, count: d), count: k)
        var b = [Double](repeating: 0, count: k)
        guard !x.isEmpty else { return (w.map { $0.map(Float.init) }, b.map(Float.init)) }
        let n = Double(x.count)
        // Standardized features: the loss's curvature is at most about d/4 per example's norm; this step is safe for it.
        let rate = 1.0 / (0.25 * Double(d) + lambda)
        let xd = x.map { $0.map(Double.init) }
        for _ in 0..<iterations {
            var gw = w.map { $0.map { $0 * lambda } }
            var gb = [Double](repeating: 0, count: k)
            for (i, xi) in xd.enumerated() {
                let logits = (0..<k).map { c in zip(w[c], xi).reduce(b[c]) { $0 + $1.0 * $1.1 } }
                let p = softmax(logits)
                for c in 0..<k {
                    let g = (p[c] - (labels[i] == c ? 1 : 0)) / n
                    gb[c] += g
                    for j in 0..<d { gw[c][j] += g * xi[j] }
                }
            }
            for c in 0..<k {
                b[c] -= rate * gb[c]
                for j in 0..<d { w[c][j] -= rate * gw[c][j] }
            }
        }
        return (w.map { $0.map(Float.init) }, b.map(Float.init))
    }

    /// Out-of-fold P(ambiguous) and kind for each example: fold f holds the examples with index % folds == f.
    public static func crossValidate(_ examples: [LabelledEmbedding], kinds: [AmbiguityType], lambda: Double, folds: Int,
                                     emphasis: (count: Int, factor: Float) = (0, 1), iterations: Int = 400) -> [(ambiguity: Double, kind: AmbiguityType?)] {
        var out = [(ambiguity: Double, kind: AmbiguityType?)](repeating: (0, nil), count: examples.count)
        for f in 0..<folds {
            let train = examples.indices.filter { $0 % folds != f }.map { examples[$0] }
            let model = Self.train(train, kinds: kinds, lambda: lambda, emphasis: emphasis, iterations: iterations)
            for i in examples.indices where i % folds == f {
                let e = examples[i].embedding
                out[i] = (model.ambiguity(e), model.kindProbabilities(e).max { $0.value < $1.value }?.key)
            }
        }
        return out
    }

    static func dot(_ w: [Float], _ x: [Float]) -> Double {
        var s: Double = 0
        for j in w.indices { s += Double(w[j]) * Double(x[j]) }
        return s
    }

    static func sigmoid(_ t: Double) -> Double { 1 / (1 + exp(-t)) }

    static func softmax(_ t: [Double]) -> [Double] {
        let m = t.max() ?? 0
        let e = t.map { exp($0 - m) }
        let s = e.reduce(0, +)
        return e.map { $0 / s }
    }
}
