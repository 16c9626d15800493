import COneDNN
import Foundation

/// Which library runs sgemm — `BLAS.gemm`, so prefill and every GEMM over `BLAS.skinnyRowLimit`
/// rows. Chosen once per process, unless OPENBLAS_CORETYPE chose OpenBLAS's kernels: oneDNN, whose
/// JIT picks its kernels from the CPU's feature bits, not its model, on a CPU with AVX-512 or one
/// where OpenBLAS runs kernels far below it (Debian's 0.3.21 falls back to its SSE3 "Prescott" set
/// on CPUs newer than it, see `BLAS.coreAdvice`); else OpenBLAS. On Zen 4 OpenBLAS runs its
/// Cooperlake kernels and oneDNN's prefill was 9–22 % faster (session 24: `bench`, `bench-bf16`,
/// `bench-moe` at 1024 and 4096 tokens, two alternating rounds); on Zen 3 (AVX2) oneDNN is
/// unmeasured. $LATENTSERVE_GEMM (`openblas`, `onednn`, `auto`) overrides.
///
/// oneDNN runs single-threaded from each `Parallel` worker (each its share of the output's
/// columns or rows): its OpenMP threads would spin on the cores after every call, and in
/// `Parallel` the process keeps one thread budget (`BLAS.threads`) for every kernel.
public enum GEMMBackend: String, CaseIterable, Sendable {
    case openblas
    case onednn

    public static let environmentVariable = "LATENTSERVE_GEMM"

    /// The backend for a CPU with `features` whose OpenBLAS chose `openBLASCore`, under the
    /// override `requested` (nil or "auto": none). Pure, for tests.
    public static func select(requested: String?, openBLASCore: String, features: CPUFeatures,
                              coreTypeSet: Bool) -> Result<GEMMBackend, GEMMBackendError> {
        if let requested, !requested.isEmpty, requested.lowercased() != "auto" {
            guard let forced = GEMMBackend(rawValue: requested.lowercased()) else { return .failure(.unknownOverride(requested)) }
            return .success(forced)
        }
        let narrow = BLAS.openBLASIsNarrow(core: openBLASCore, features: features, coreTypeSet: coreTypeSet)
        let avx512 = !coreTypeSet && features.isSuperset(of: .avx512)
        return .success(narrow || avx512 ? .onednn : .openblas)
    }

    /// This process's choice, made once.
    static let selection = select(requested: ProcessInfo.processInfo.environment[environmentVariable],
                                  openBLASCore: BLAS.coreName, features: .detected,
                                  coreTypeSet: BLAS.coreTypeSet)

    /// The backend `BLAS.gemm` uses (OpenBLAS when the override is not understood: model loading
    /// refuses that first, through `requireValidSelection`).
    public static var active: GEMMBackend { (try? selection.get()) ?? .openblas }

    /// Throws the one-line error when $LATENTSERVE_GEMM is not understood (called where a model is
    /// loaded, like `CPUFeatures.requireBaseline`).
    public static func requireValidSelection() throws { _ = try selection.get() }

    /// For reports: "OpenBLAS Haswell", "oneDNN 2.6.3".
    public var name: String {
        switch self {
        case .openblas: return "OpenBLAS \(BLAS.coreName)"
        case .onednn:
            guard let v = dnnl_version()?.pointee else { return "oneDNN" }
            return "oneDNN \(v.major).\(v.minor).\(v.patch)"
        }
    }

    /// C[M, N] = alpha · op(A) · op(B) + beta · C on oneDNN, row-major, on the calling thread only.
    @inline(__always)
    static func oneDNNSgemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                            a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                            beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        omp_set_num_threads(1)   // this thread's OpenMP setting: oneDNN starts no team
        let status = dnnl_sgemm(CChar(UInt8(ascii: transA ? "T" : "N")), CChar(UInt8(ascii: transB ? "T" : "N")),
                                Int64(m), Int64(n), Int64(k), alpha, a, Int64(lda), b, Int64(ldb), beta, c, Int64(ldc))
        precondition(status == dnnl_success, "dnnl_sgemm failed (status \(status.rawValue)) for \(m)×\(n)×\(k)")
    }
}

/// Why $LATENTSERVE_GEMM was refused; reads as one line.
public enum GEMMBackendError: Error, Equatable, CustomStringConvertible {
    case unknownOverride(String)

    public var description: String {
        switch self {
        case let .unknownOverride(value):
            return "\(GEMMBackend.environmentVariable)=\(value) is not one of auto, "
                + GEMMBackend.allCases.map(\.rawValue).joined(separator: ", ")
        }
    }
}
