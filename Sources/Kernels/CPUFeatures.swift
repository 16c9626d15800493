import CKernels
import Foundation

/// The x86 features the kernels care about, as detected by cpuid + xgetbv (the CPU has the
/// instructions and the OS saves their registers).
public struct CPUFeatures: OptionSet, Sendable, CustomStringConvertible {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let avx2 = CPUFeatures(rawValue: CK_FEATURE_AVX2)
    public static let fma = CPUFeatures(rawValue: CK_FEATURE_FMA)
    /// vcvtph2ps (f16 → f32), for the f16 and FP8 weight kernels.
    public static let f16c = CPUFeatures(rawValue: CK_FEATURE_F16C)
    public static let avx512f = CPUFeatures(rawValue: CK_FEATURE_AVX512F)
    public static let avx512bw = CPUFeatures(rawValue: CK_FEATURE_AVX512BW)
    public static let avx512vl = CPUFeatures(rawValue: CK_FEATURE_AVX512VL)
    public static let avx512dq = CPUFeatures(rawValue: CK_FEATURE_AVX512DQ)
    /// vdpbf16ps (bf16 dot products), for the bf16 weight kernels.
    public static let avx512bf16 = CPUFeatures(rawValue: CK_FEATURE_AVX512BF16)
    /// vpdpbusd (int8 dot products), for the fp8/int8 kernels.
    public static let avx512vnni = CPUFeatures(rawValue: CK_FEATURE_AVX512VNNI)

    /// What every model kernel needs (x86-64-v3's vector part).
    public static let baseline: CPUFeatures = [.avx2, .fma, .f16c]
    /// What the AVX-512 kernels need (x86-64-v4).
    public static let avx512: CPUFeatures = [.avx2, .fma, .f16c, .avx512f, .avx512bw, .avx512vl, .avx512dq]

    /// This machine's features (read once).
    public static let detected = CPUFeatures(rawValue: ck_cpu_features())

    static let names: [(CPUFeatures, String)] = [
        (.avx2, "avx2"), (.fma, "fma"), (.f16c, "f16c"), (.avx512f, "avx512f"), (.avx512bw, "avx512bw"), (.avx512vl, "avx512vl"),
        (.avx512dq, "avx512dq"), (.avx512bf16, "avx512bf16"), (.avx512vnni, "avx512vnni"),
    ]
    public var description: String {
        let present = Self.names.filter { contains($0.0) }.map(\.1)
        return present.isEmpty ? "none" : present.joined(separator: ",")
    }

    /// Refuses (throws a one-line error) unless the selected instruction set can run the model
    /// kernels and $LATENTSERVE_GEMM names a GEMM backend: called where a model is loaded, so
    /// processes that never run the model (pd-client) start on any x86-64.
    public static func requireBaseline() throws {
        _ = try InstructionSet.selection.get()
        try GEMMBackend.requireValidSelection()
    }
}

/// Which variant of the SIMD kernels runs. Chosen once per process: the best the CPU has, or
/// $LATENTSERVE_ISA (`avx2`, `avx512`, or `baseline` to act as a CPU without AVX2 would).
public enum InstructionSet: String, CaseIterable, Sendable {
    /// Plain x86-64: not enough for the model kernels (requireBaseline refuses).
    case baseline
    case avx2
    case avx512

    public static let environmentVariable = "LATENTSERVE_ISA"

    /// The features a variant needs.
    public var required: CPUFeatures {
        switch self {
        case .baseline: return []
        case .avx2: return .baseline
        case .avx512: return .avx512
        }
    }

    /// The best variant `features` can run.
    public static func best(for features: CPUFeatures) -> InstructionSet {
        features.isSuperset(of: CPUFeatures.avx512) ? .avx512 : features.isSuperset(of: .baseline) ? .avx2 : .baseline
    }

    /// The variant for a CPU with `features` under the override `requested` (nil: none), or why
    /// the model cannot run. A pure function, so tests can ask it about any CPU.
    public static func select(features: CPUFeatures, requested: String?) -> Result<InstructionSet, CPUError> {
        var choice = best(for: features)
        if let requested, !requested.isEmpty {
            guard let forced = InstructionSet(rawValue: requested.lowercased()) else {
                return .failure(.unknownOverride(requested))
            }
            guard features.isSuperset(of: forced.required) else {
                return .failure(.overrideUnsupported(forced, missing: forced.required.subtracting(features)))
            }
            choice = forced
        }
        guard choice != .baseline else {
            return .failure(features.isSuperset(of: .baseline) ? .baselineForced : .missingBaseline(missing: CPUFeatures.baseline.subtracting(features)))
        }
        return .success(choice)
    }

    /// This process's choice (from CPUFeatures.detected and the environment), made once.
    static let selection = select(features: .detected, requested: ProcessInfo.processInfo.environment[environmentVariable])

    /// The variant this process runs (nil when the model kernels cannot run here), for logs and reports.
    public static var active: InstructionSet? { try? selection.get() }
}

/// Why the model kernels cannot run here; each reads as one line.
public enum CPUError: Error, Equatable, CustomStringConvertible {
    case missingBaseline(missing: CPUFeatures)
    /// LATENTSERVE_ISA=baseline: acting as a CPU without AVX2 would.
    case baselineForced
    case overrideUnsupported(InstructionSet, missing: CPUFeatures)
    case unknownOverride(String)

    public var description: String {
        switch self {
        case let .missingBaseline(missing):
            return "this CPU lacks \(missing): the model kernels need AVX2, FMA and F16C (x86-64-v3)"
        case .baselineForced:
            return "\(InstructionSet.environmentVariable)=baseline: the model kernels need AVX2, FMA and F16C (x86-64-v3)"
        case let .overrideUnsupported(isa, missing):
            return "\(InstructionSet.environmentVariable)=\(isa.rawValue), but this CPU lacks \(missing)"
        case let .unknownOverride(value):
            return "\(InstructionSet.environmentVariable)=\(value) is not one of "
                + InstructionSet.allCases.map(\.rawValue).joined(separator: ", ")
        }
    }
}
