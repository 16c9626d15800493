import CKernels

/// Decode attention's value side over the latent cache: o[H, N] (= or +=) p[H, count] · V[count, N]
/// with V the first N columns of `count` cache rows, f32 or bf16 read as stored (bf16 converted in
/// registers), f32 accumulation. Each output element is one FMA chain in row order, so every variant
/// gives the same bits as `ck_kv_weighted_rows_scalar`, and a sequence's page runs chained with
/// `accumulate` give the same bits as one run.
///
/// Why not sgemm: at a few heads OpenBLAS packs the rows before multiplying; a `bench-fp8` decode
/// step's attention stage at 513 cached rows took 0.30–0.40 ms per layer with sgemm, 0.24 with this
/// kernel (Zen 3, docs/kv-cache-bf16.md).
public enum KVWeightedRows {
    /// On the calling thread (decode attention calls it from its own workers). `values`: the cache
    /// rows as a [count, ≥ N] f32 or bf16 matrix.
    public static func run(_ p: UnsafePointer<Float>, heads: Int, ldp: Int, values: WeightMatrix, columns n: Int,
                           into o: UnsafeMutablePointer<Float>, ldo: Int, accumulate: Bool) {
        run(p, heads: heads, ldp: ldp, values: values, columns: n, into: o, ldo: ldo, accumulate: accumulate, kernels: .active)
    }

    /// `run` with a given kernel variant (tests compare the variants).
    static func run(_ p: UnsafePointer<Float>, heads: Int, ldp: Int, values: WeightMatrix, columns n: Int,
                    into o: UnsafeMutablePointer<Float>, ldo: Int, accumulate: Bool, kernels: KernelTable) {
        let count = values.rows, ldv = values.rowStride
        precondition(ldp >= count && n <= values.cols && ldo >= n,
                     "KVWeightedRows: strides \(ldp), \(ldv), \(ldo) for [\(heads), \(count)] · [\(count), \(n) of \(values.cols)]")
        let dtype: ck_weight_dtype
        switch values.storage {
        case .f32: dtype = CK_WEIGHT_F32
        case .bf16: dtype = CK_WEIGHT_BF16
        default: preconditionFailure("KVWeightedRows: cache rows are f32 or bf16, not \(values.storage)")
        }
        kernels.kvWeightedRows(p, heads, ldp, values.base, Int32(dtype.rawValue), count, ldv, n, o, ldo, accumulate ? 1 : 0)
    }
}
