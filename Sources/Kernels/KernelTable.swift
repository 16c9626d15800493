import CKernels

/// The per-ISA variants of the SIMD kernels (CKernels), picked once per process like llama.cpp's
/// CPU backend: `KernelTable.active` follows `InstructionSet.selection`; tests take `table(for:)`
/// to run both variants side by side.
struct KernelTable: Sendable {
    let isa: InstructionSet
    /// y[m ≤ 8, first..<last] (= or +=) alpha · x · W[first..<last]ᵀ.
    let skinnyLinear: ck_skinny_linear_fn
    /// x[i] = e^(x[i] − shift), returns Σ.
    let expShifted: ck_exp_shifted_fn
    /// out = silu(gate) ⊙ up.
    let siluMul: ck_silu_mul_fn
    /// skinnyLinear over a weight in its stored dtype (bf16, f16, FP8 E4M3; f32 goes to skinnyLinear).
    let skinnyWeight: ck_skinny_weight_fn
    /// Rows first..<last of a stored weight as f32.
    let weightRowsToF32: ck_weight_rows_to_f32_fn
    /// o (= or +=) p · V over f32 or bf16 latent-cache rows (bit-identical in every variant).
    let kvWeightedRows: ck_kv_weighted_rows_fn

    static let avx2 = KernelTable(isa: .avx2, skinnyLinear: ck_skinny_linear_avx2, expShifted: ck_exp_shifted_avx2,
                                  siluMul: ck_silu_mul_avx2, skinnyWeight: ck_skinny_weight_avx2,
                                  weightRowsToF32: ck_weight_rows_to_f32_avx2, kvWeightedRows: ck_kv_weighted_rows_avx2)
    static let avx512 = KernelTable(isa: .avx512, skinnyLinear: ck_skinny_linear_avx512, expShifted: ck_exp_shifted_avx512,
                                    siluMul: ck_silu_mul_avx512, skinnyWeight: ck_skinny_weight_avx512,
                                    weightRowsToF32: ck_weight_rows_to_f32_avx512, kvWeightedRows: ck_kv_weighted_rows_avx512)

    /// The variant for `isa` (nil for baseline, which has none: the model refuses to load there).
    static func table(for isa: InstructionSet) -> KernelTable? {
        switch isa {
        case .baseline: return nil
        case .avx2: return avx2
        case .avx512: return avx512
        }
    }

    /// This process's variant. Model loading has already called CPUFeatures.requireBaseline, so
    /// the failure below is reached only by code that runs kernels without loading a model.
    static let active: KernelTable = {
        switch InstructionSet.selection {
        case let .success(isa): return table(for: isa)!
        case let .failure(error): fatalError("\(error)")
        }
    }()
}
