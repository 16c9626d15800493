import CKernels

/// Decode attention's value side over a bf16 latent cache: o[H, N] (= or +=) p[H, count] · V[count, N]
/// with V the first N columns of `count` bf16 cache rows, read as stored (converted in registers,
/// f32 accumulation). Each output element is one FMA chain in row order, so every variant gives the
/// same bits as `ck_bf16_weighted_rows_scalar`, and a sequence's page runs chained with
/// `accumulate` give the same bits as one run. (The f32 cache takes sgemm instead.)
public enum BF16WeightedRows {
    /// On the calling thread (decode attention calls it from its own workers).
    public static func run(_ p: UnsafePointer<Float>, heads: Int, ldp: Int, values: UnsafePointer<UInt16>, count: Int, ldv: Int,
                           columns n: Int, into o: UnsafeMutablePointer<Float>, ldo: Int, accumulate: Bool) {
        run(p, heads: heads, ldp: ldp, values: values, count: count, ldv: ldv, columns: n, into: o, ldo: ldo,
            accumulate: accumulate, kernels: .active)
    }

    /// `run` with a given kernel variant (tests compare the variants).
    static func run(_ p: UnsafePointer<Float>, heads: Int, ldp: Int, values: UnsafePointer<UInt16>, count: Int, ldv: Int,
                    columns n: Int, into o: UnsafeMutablePointer<Float>, ldo: Int, accumulate: Bool, kernels: KernelTable) {
        precondition(ldp >= count && ldv >= n && ldo >= n, "BF16WeightedRows: strides \(ldp), \(ldv), \(ldo) for [\(heads), \(count)] · [\(count), \(n)]")
        kernels.bf16WeightedRows(p, heads, ldp, values, count, ldv, n, o, ldo, accumulate ? 1 : 0)
    }
}
