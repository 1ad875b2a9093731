/// The tensor element types the engine can read (ggml's numbering).
public enum GGMLType: UInt32, Sendable {
    case f32 = 0
    case f16 = 1
    case q4_0 = 2
    case q4_1 = 3
    case q8_0 = 8

    /// Elements per quantization block.
    public var blockSize: Int {
        switch self {
        case .f32, .f16: return 1
        case .q4_0, .q4_1, .q8_0: return 32
        }
    }

    /// Bytes per block.
    public var blockBytes: Int {
        switch self {
        case .f32: return 4
        case .f16: return 2
        case .q4_0: return 18
        case .q4_1: return 20
        case .q8_0: return 34
        }
    }

    public var name: String {
        switch self {
        case .f32: return "F32"
        case .f16: return "F16"
        case .q4_0: return "Q4_0"
        case .q4_1: return "Q4_1"
        case .q8_0: return "Q8_0"
        }
    }
}
