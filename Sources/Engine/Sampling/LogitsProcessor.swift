/// A hook that sees one sequence's logits before sampling: grammar masks, biases, penalties.
///
/// The engine calls `process` once per step with the full-vocabulary logits and
/// `didSample` with the token it then chose, so a processor can keep incremental state.
public protocol LogitsProcessor {
    /// Adjusts logits in place; a disallowed token gets `-Float.infinity`.
    mutating func process(logits: UnsafeMutableBufferPointer<Float>)
    /// Advances the processor's state past the token that was sampled.
    mutating func didSample(token: Int)
    /// Whether it is forcing the end of the output (a grammar closing open constructs within the
    /// token budget). A monitor does not veto those tokens: the text must end anyway.
    var isClosing: Bool { get }
    /// Whether the output is complete (a finished program): the sequence ends there.
    var isComplete: Bool { get }
}

extension LogitsProcessor {
    /// Most processors never force an ending.
    public var isClosing: Bool { false }
    /// Most processors cannot tell when the output is complete.
    public var isComplete: Bool { false }
}
