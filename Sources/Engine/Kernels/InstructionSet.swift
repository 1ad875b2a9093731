import CKernels
import Foundation

/// The instruction sets the engine has kernels for, from the plainest to the most capable.
///
/// The host's best is found at run time; a lower one can be asked for (`--isa`, to compare
/// paths or reproduce another machine's arithmetic on this one), a higher one cannot.
public enum InstructionSet: String, CaseIterable, Comparable, Sendable {
    /// Swift SIMD only: integer dot products per row, float tiles for batches.
    case portable
    /// AVX2 with FMA and F16C: integer panels through vpmaddubsw, C vector kernels.
    case avx2
    /// AVX-512 with VNNI: integer panels through vpdpbusd, 512-bit attention tiles.
    case avx512vnni

    /// The most capable set this CPU runs.
    public static let host: InstructionSet = {
        if ec_dot_panels_supported() != 0 && ec_attention_tiles_supported() != 0 { return .avx512vnni }
        if ec_dot_panels_avx2_supported() != 0 && ec_vector_kernels_supported() != 0 { return .avx2 }
        return .portable
    }()

    public static func < (a: InstructionSet, b: InstructionSet) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }

    /// The integer panel kernel of this set, if it has one.
    var panelKernel: IntegerPanels.Kernel? {
        switch self {
        case .portable: nil
        case .avx2: .avx2
        case .avx512vnni: .vnni512
        }
    }

    /// `name` ("auto" for the host's best) if this CPU runs it, with the reason otherwise.
    public static func requested(_ name: String) throws -> InstructionSet {
        if name == "auto" { return host }
        guard let set = InstructionSet(rawValue: name) else {
            throw InstructionSetError("unknown instruction set '\(name)': use auto, " + allCases.map(\.rawValue).joined(separator: ", "))
        }
        guard set <= host else {
            throw InstructionSetError("this CPU does not run \(name) (it runs up to \(host.rawValue))")
        }
        return set
    }
}

/// An instruction set that was asked for and cannot be used.
public struct InstructionSetError: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// The CPU's name and the features the kernels look at, for benchmark reports.
public struct CPUDescription: Sendable {
    public let model: String
    public let features: [String]

    /// Read from /proc/cpuinfo (empty where it is missing).
    public static func current() -> CPUDescription {
        let info = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        func field(_ name: String) -> String {
            for line in info.split(separator: "\n") where line.hasPrefix(name) {
                if let colon = line.firstIndex(of: ":") { return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces) }
            }
            return ""
        }
        let flags = Set(field("flags").split(separator: " ").map(String.init))
        let watched = ["avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx_vnni"]
        return CPUDescription(model: field("model name"), features: watched.filter(flags.contains))
    }
}
