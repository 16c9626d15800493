#if canImport(Glibc)
import Glibc
#endif
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
}

/// The one place the model multiplies by a `WeightMatrix`: f32 goes straight to BLAS.linear; the
/// other storages (bf16, f16, FP8 blocks) convert a bounded panel of weight rows to f32 scratch
/// at a time and run BLAS.linear on it. Correct but slow; the fused-dequant kernels replace the
/// conversion path here and nowhere else.
enum Linear {
    /// Floats of f32 panel one conversion produces (4 MiB): the adapter's scratch bound per caller.
    static let panelFloats = 1 << 20

    private static let shared = Scratch()
    private static let lock: UnsafeMutablePointer<pthread_mutex_t> = {
        let m = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
        pthread_mutex_init(m, nil)
        return m
    }()

    /// y[M, N] (= or +=) alpha · x[M, K] · Wᵀ, W = [N, K] stacked; part p writes its columns of y.
    static func apply(_ x: UnsafePointer<Float>, rows m: Int, lda: Int? = nil, weight: StackedWeight,
                      into y: UnsafeMutablePointer<Float>, ldy: Int? = nil, accumulate: Bool = false) {
        let ldy = ldy ?? weight.rows
        var column = 0
        for part in weight.parts {
            apply(x, rows: m, lda: lda, weight: part, into: y + column, ldy: ldy, accumulate: accumulate)
            column += part.rows
        }
    }

    /// y[M, N] (= or +=) alpha · x[M, K] · Wᵀ on the BLAS thread budget.
    static func apply(_ x: UnsafePointer<Float>, rows m: Int, lda: Int? = nil, weight w: WeightMatrix,
                      into y: UnsafeMutablePointer<Float>, ldy: Int? = nil, accumulate: Bool = false, alpha: Float = 1) {
        let k = w.cols, ldy = ldy ?? w.rows
        if let f32 = w.f32Pointer {
            BLAS.linear(x, rows: m, inFeatures: k, lda: lda, weight: f32, outFeatures: w.rows, ldw: w.rowStride,
                        into: y, ldy: ldy, accumulate: accumulate, alpha: alpha)
            return
        }
        pthread_mutex_lock(lock)
        defer { pthread_mutex_unlock(lock) }
        forEachPanel(w, scratch: shared) { panel, first, count in
            BLAS.linear(x, rows: m, inFeatures: k, lda: lda, weight: panel, outFeatures: count, ldw: k,
                        into: y + first, ldy: ldy, accumulate: accumulate, alpha: alpha)
        }
    }

    /// The same on the calling thread alone (one slice of a parallel stage), converting into the
    /// caller's own `scratch`.
    static func applyOnThisThread(_ x: UnsafePointer<Float>, rows m: Int, lda: Int, weight w: WeightMatrix,
                                  into y: UnsafeMutablePointer<Float>, ldy: Int, scratch: Scratch) {
        let k = w.cols
        if let f32 = w.f32Pointer {
            SkinnyLinear.runOnThisThread(x, rows: m, inFeatures: k, lda: lda, weight: f32, outFeatures: w.rows, ldw: w.rowStride,
                                         into: y, ldy: ldy)
            return
        }
        forEachPanel(w, scratch: scratch) { panel, first, count in
            SkinnyLinear.runOnThisThread(x, rows: m, inFeatures: k, lda: lda, weight: panel, outFeatures: count, ldw: k,
                                         into: y + first, ldy: ldy)
        }
    }

    /// Panels of at most `panelFloats` converted weight rows: (panel [count, K], first row, count).
    private static func forEachPanel(_ w: WeightMatrix, scratch: Scratch,
                                     _ body: (UnsafePointer<Float>, Int, Int) -> Void) {
        let panelRows = max(1, min(w.rows, panelFloats / max(w.cols, 1)))
        let panel = scratch.reserve(panelRows * w.cols)
        var first = 0
        while first < w.rows {
            let count = min(panelRows, w.rows - first)
            convertRows(w, first: first, count: count, into: panel)
            body(panel, first, count)
            first += count
        }
    }

    /// Rows [first, first + count) of W as f32 into `out` [count, cols]: exact for bf16 / f16,
    /// q · scale_inv of its block for FP8 (the value the checkpoint encodes).
    static func convertRows(_ w: WeightMatrix, first: Int, count: Int, into out: UnsafeMutablePointer<Float>) {
        let cols = w.cols
        for r in first..<first + count {
            let row = out + (r - first) * cols
            let source = w.base + r * w.rowStride * w.elementBytes
            switch w.storage {
            case .f32: row.update(from: source.assumingMemoryBound(to: Float.self), count: cols)
            case .bf16: BFloat16.decode(source, count: cols, into: row)
            case .f16: DTypeConversion.f16ToF32(source.assumingMemoryBound(to: UInt16.self), row, count: cols)
            case let .fp8E4M3(scales, blockRows, blockCols, scaleStride):
                let q = source.assumingMemoryBound(to: UInt8.self), scaleRow = scales + (r / blockRows) * scaleStride
                var c0 = 0
                while c0 < cols {                                   // one scale per column block
                    let scale = scaleRow[c0 / blockCols], c1 = min(cols, c0 + blockCols)
                    for c in c0..<c1 { row[c] = DTypeConversion.e4m3ToF32(q[c]) * scale }
                    c0 = c1
                }
            }
        }
    }
}
