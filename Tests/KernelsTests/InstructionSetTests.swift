import Foundation
@testable import Kernels
import XCTest

/// Choosing the kernel variant: the best the CPU has, the LATENTSERVE_ISA override, and the
/// one-line refusals (a CPU without AVX2 + FMA + F16C, an override the CPU cannot run, a typo).
final class InstructionSetTests: XCTestCase {
    let zen4: CPUFeatures = [.avx2, .fma, .f16c, .avx512f, .avx512bw, .avx512vl, .avx512dq, .avx512bf16, .avx512vnni]
    let zen3: CPUFeatures = [.avx2, .fma, .f16c]
    let emeraldRapids: CPUFeatures = [.avx2, .fma, .f16c, .avx512f, .avx512bw, .avx512vl, .avx512dq, .avx512bf16]
    let sandyBridge: CPUFeatures = []                       // AVX only: no AVX2, FMA or F16C

    func testBestVariantPerCPU() {
        XCTAssertEqual(try InstructionSet.select(features: zen4, requested: nil).get(), .avx512)
        XCTAssertEqual(try InstructionSet.select(features: zen3, requested: nil).get(), .avx2)
        XCTAssertNil(try? InstructionSet.select(features: [.avx2, .f16c], requested: nil).get(), "AVX2 without FMA is not enough")
        XCTAssertNil(try? InstructionSet.select(features: [.avx2, .fma], requested: nil).get(), "nor without F16C")
        XCTAssertNil(try? InstructionSet.select(features: sandyBridge, requested: nil).get())
    }

    func testOverrideForcesAVariantTheCPUHas() {
        XCTAssertEqual(try InstructionSet.select(features: zen4, requested: "avx2").get(), .avx2)
        XCTAssertEqual(try InstructionSet.select(features: zen4, requested: "AVX512").get(), .avx512)
        XCTAssertEqual(try InstructionSet.select(features: zen4, requested: "").get(), .avx512, "empty means no override")
    }

    func testRefusalsReadAsOneClearLine() {
        func message(_ features: CPUFeatures, _ requested: String?) -> String? {
            if case let .failure(error) = InstructionSet.select(features: features, requested: requested) { return "\(error)" }
            return nil
        }
        let need = "the model kernels need AVX2, FMA and F16C (x86-64-v3)"
        XCTAssertEqual(message(sandyBridge, nil), "this CPU lacks avx2,fma,f16c: " + need)
        XCTAssertEqual(message([.avx2, .f16c], nil), "this CPU lacks fma: " + need)
        XCTAssertEqual(message([.avx2, .fma], nil), "this CPU lacks f16c: " + need)
        XCTAssertEqual(message(zen4, "baseline"), "LATENTSERVE_ISA=baseline: " + need)
        XCTAssertEqual(message(zen3, "avx512"), "LATENTSERVE_ISA=avx512, but this CPU lacks avx512f,avx512bw,avx512vl,avx512dq")
        XCTAssertEqual(message(zen3, "sse"), "LATENTSERVE_ISA=sse is not one of baseline, avx2, avx512")
        XCTAssertEqual(message(sandyBridge, "avx2"), "LATENTSERVE_ISA=avx2, but this CPU lacks avx2,fma,f16c")
    }

    /// The detected features are self-consistent: AVX-512 implies the baseline, and this process
    /// runs the best variant unless the environment overrides it.
    func testDetectionIsConsistent() {
        let f = CPUFeatures.detected
        if f.contains(.avx512f) { XCTAssertTrue(f.isSuperset(of: .baseline)) }
        if f.contains(.avx512bf16) || f.contains(.avx512vnni) { XCTAssertTrue(f.contains(.avx512f)) }
        let requested = ProcessInfo.processInfo.environment[InstructionSet.environmentVariable]
        XCTAssertEqual(InstructionSet.active, try? InstructionSet.select(features: f, requested: requested).get())
    }

    /// OpenBLAS's kernel choice: advice (naming the OPENBLAS_CORETYPE to set) only when it runs a set
    /// below the CPU and the variable is unset; the process's own core name is one OpenBLAS reports.
    func testOpenBLASCoreAdvice() {
        XCTAssertNil(BLAS.coreAdvice(core: "Zen", features: zen3, coreTypeSet: false))
        XCTAssertNil(BLAS.coreAdvice(core: "SkylakeX", features: emeraldRapids, coreTypeSet: false))
        XCTAssertNil(BLAS.coreAdvice(core: "Prescott", features: emeraldRapids, coreTypeSet: true))
        XCTAssertNil(BLAS.coreAdvice(core: "Prescott", features: [], coreTypeSet: false), "a CPU without AVX2 has nothing better")
        XCTAssertEqual(BLAS.coreAdvice(core: "Prescott", features: emeraldRapids, coreTypeSet: false).map { $0.hasSuffix("OPENBLAS_CORETYPE=Cooperlake") }, true)
        XCTAssertEqual(BLAS.coreAdvice(core: "Prescott", features: emeraldRapids.subtracting(.avx512bf16), coreTypeSet: false)
            .map { $0.hasSuffix("OPENBLAS_CORETYPE=SkylakeX") }, true)
        XCTAssertEqual(BLAS.coreAdvice(core: "Sandybridge", features: zen3, coreTypeSet: false).map { $0.hasSuffix("OPENBLAS_CORETYPE=Haswell") }, true)
        XCTAssertFalse(BLAS.coreName.isEmpty)
    }

    /// The GEMM backend: oneDNN where the OpenBLAS advice would apply and on AVX-512 CPUs, unless
    /// OPENBLAS_CORETYPE chose OpenBLAS's kernels or LATENTSERVE_GEMM names one; an unknown name is
    /// refused in one line.
    func testGEMMBackendSelection() {
        func pick(_ requested: String?, _ core: String, _ features: CPUFeatures, coreTypeSet: Bool = false) -> GEMMBackend? {
            try? GEMMBackend.select(requested: requested, openBLASCore: core, features: features, coreTypeSet: coreTypeSet).get()
        }
        XCTAssertEqual(pick(nil, "Zen", zen3), .openblas)
        XCTAssertEqual(pick(nil, "SkylakeX", emeraldRapids), .onednn, "AVX-512")
        XCTAssertEqual(pick(nil, "SkylakeX", emeraldRapids, coreTypeSet: true), .openblas)
        XCTAssertEqual(pick(nil, "Cooperlake", zen4), .onednn, "AVX-512")
        XCTAssertEqual(pick(nil, "Cooperlake", zen4, coreTypeSet: true), .openblas, "OPENBLAS_CORETYPE chose the kernels")
        XCTAssertEqual(pick(nil, "Prescott", emeraldRapids), .onednn)
        XCTAssertEqual(pick("auto", "Prescott", emeraldRapids), .onednn)
        XCTAssertEqual(pick(nil, "Prescott", emeraldRapids, coreTypeSet: true), .openblas, "OPENBLAS_CORETYPE chose the kernels")
        XCTAssertEqual(pick(nil, "Prescott", []), .openblas, "a CPU without AVX2 keeps OpenBLAS")
        XCTAssertEqual(pick("OpenBLAS", "Prescott", emeraldRapids), .openblas)
        XCTAssertEqual(pick("onednn", "Zen", zen3), .onednn)
        XCTAssertEqual(GEMMBackend.select(requested: "mkl", openBLASCore: "Zen", features: zen3, coreTypeSet: false),
                       .failure(.unknownOverride("mkl")))
        XCTAssertEqual(GEMMBackendError.unknownOverride("mkl").description, "LATENTSERVE_GEMM=mkl is not one of auto, openblas, onednn")
        XCTAssertTrue(GEMMBackend.onednn.name.hasPrefix("oneDNN "))
    }
}
