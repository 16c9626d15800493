import Kernels
import Tensors

/// A linear weight [out, in] made of row blocks stacked in order: fused projections (q_a ‖ kv_a,
/// gate ‖ up) over the mapped parts without copying them. One part when the weights were fused
/// into one f32 matrix at load.
public struct StackedWeight: @unchecked Sendable {
    public let parts: [WeightMatrix]
    public var rows: Int { parts.reduce(0) { $0 + $1.rows } }
    public var cols: Int { parts[0].cols }
    public var streamedBytes: Int { parts.reduce(0) { $0 + $1.streamedBytes } }

    init(_ parts: [WeightMatrix]) {
        precondition(!parts.isEmpty && parts.allSatisfy { $0.cols == parts[0].cols }, "StackedWeight: parts must share their column count")
        self.parts = parts
    }

    /// The parts' views each stacked row range `range` crosses, in order, with the offset of
    /// each in the range; nil for a part whose view cannot be taken (`WeightMatrix.rows`).
    func forEachView(rows range: Range<Int>, _ body: (_ view: WeightMatrix?, _ offset: Int) -> Void) {
        var first = 0
        for part in parts {
            let start = max(range.lowerBound, first), end = min(range.upperBound, first + part.rows)
            if start < end { body(part.rows(start - first..<end - first), start - range.lowerBound) }
            first += part.rows
        }
    }

    /// Whether every part the stacked rows `range` cross has a view of its share.
    func hasViews(rows range: Range<Int>) -> Bool {
        var all = true
        forEachView(rows: range) { view, _ in all = all && view != nil }
        return all
    }
}

/// The one place the model multiplies by a `WeightMatrix`, in its stored dtype: Kernels'
/// `BLAS.linear(weight:)` (f32: today's exact path; up to 32 rows: the skinny kernels converting
/// bf16 / f16 / FP8 in registers; beyond: one converted panel of weight rows at a time into sgemm)
/// and `WeightMatrix.convertRows` (bit-exact upcast; FP8 as q · scale_inv of its block).
enum Linear {
    /// y[M, N] (= or +=) x[M, K] · Wᵀ, W = [N, K] stacked; part p writes its columns of y.
    static func apply(_ x: UnsafePointer<Float>, rows m: Int, lda: Int? = nil, weight: StackedWeight,
                      into y: UnsafeMutablePointer<Float>, ldy: Int? = nil, accumulate: Bool = false) {
        apply(x, rows: m, lda: lda, weight: weight, stackedRows: 0..<weight.rows, into: y, ldy: ldy ?? weight.rows,
              accumulate: accumulate)
    }

    /// y[M, range.count] (= or +=) x[M, K] · W[range]ᵀ: stacked rows `range`, each part's share
    /// through a view of its rows (the caller checked they exist: `StackedWeight.hasViews`; a part
    /// taken whole always has one).
    static func apply(_ x: UnsafePointer<Float>, rows m: Int, lda: Int? = nil, weight: StackedWeight, stackedRows range: Range<Int>,
                      into y: UnsafeMutablePointer<Float>, ldy: Int, accumulate: Bool = false) {
        weight.forEachView(rows: range) { view, offset in
            apply(x, rows: m, lda: lda, weight: view!, into: y + offset, ldy: ldy, accumulate: accumulate)
        }
    }

    /// y[M, N] (= or +=) alpha · x[M, K] · Wᵀ on the BLAS thread budget.
    static func apply(_ x: UnsafePointer<Float>, rows m: Int, lda: Int? = nil, weight w: WeightMatrix,
                      into y: UnsafeMutablePointer<Float>, ldy: Int? = nil, accumulate: Bool = false, alpha: Float = 1) {
        BLAS.linear(x, rows: m, lda: lda, weight: w, into: y, ldy: ldy, accumulate: accumulate, alpha: alpha)
    }

    /// The same on the calling thread alone (one slice of a parallel stage: per-head absorptions).
    static func applyOnThisThread(_ x: UnsafePointer<Float>, rows m: Int, lda: Int, weight w: WeightMatrix,
                                  into y: UnsafeMutablePointer<Float>, ldy: Int) {
        if let f32 = w.f32Pointer {
            SkinnyLinear.runOnThisThread(x, rows: m, inFeatures: w.cols, lda: lda, weight: f32, outFeatures: w.rows,
                                         ldw: w.rowStride, into: y, ldy: ldy)
        } else {
            SkinnyLinear.runOnThisThread(x, rows: m, lda: lda, weight: w, into: y, ldy: ldy)
        }
    }

    /// Rows [first, first + count) of W as f32 into `out` [count, cols].
    static func convertRows(_ w: WeightMatrix, first: Int, count: Int, into out: UnsafeMutablePointer<Float>) {
        w.convertRows(first..<first + count, into: out, ldo: w.cols)
    }
}
