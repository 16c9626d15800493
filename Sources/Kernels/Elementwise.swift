import Foundation

/// Row-wise normalisation and activation passes (one pass over memory each).
public enum Elementwise {
    /// HF DeepSeek RMSNorm: y = w ⊙ x / sqrt(mean(x²) + eps), per row. x, y: [rows, dim]; may alias.
    /// Many rows (prefill) are split over the `Parallel` workers (`RowPass`), a row's result the same.
    public static func rmsNorm(
        _ x: UnsafePointer<Float>, rows: Int, dim: Int, stride: Int? = nil,
        weight: UnsafePointer<Float>, eps: Float, into y: UnsafeMutablePointer<Float>, outStride: Int? = nil
    ) {
        let sx = stride ?? dim, sy = outStride ?? dim
        RowPass.run(.rmsNorm(x: x, stride: sx, dim: dim, weight: weight, eps: eps, y: y, outStride: sy), rows: rows, width: dim)
    }

    static func rmsNorm(rows range: Range<Int>, _ x: UnsafePointer<Float>, stride sx: Int, dim: Int,
                        weight: UnsafePointer<Float>, eps: Float, into y: UnsafeMutablePointer<Float>, outStride sy: Int) {
        for r in range {
            let xr = x + r * sx, yr = y + r * sy
            let inv = 1 / (VectorMath.sumOfSquares(xr, count: dim) / Float(dim) + eps).squareRoot()
            let iv = VectorMath.V(repeating: inv)
            var i = 0
            while i + 8 <= dim {
                VectorMath.store(VectorMath.load(weight + i) * (VectorMath.load(xr + i) * iv), yr + i)
                i += 8
            }
            while i < dim { yr[i] = weight[i] * (xr[i] * inv); i += 1 }
        }
    }

    /// SwiGLU gate: gateUp is [rows, 2·inter] with gate in the first half and up in the second;
    /// writes silu(gate) ⊙ up into out [rows, inter]. Many rows are split like rmsNorm's.
    public static func siluMul(
        gateUp: UnsafePointer<Float>, rows: Int, inter: Int, into out: UnsafeMutablePointer<Float>
    ) {
        RowPass.run(.siluMul(gateUp: gateUp, inter: inter, out: out), rows: rows, width: 2 * inter)
    }

    static func siluMul(rows range: Range<Int>, gateUp: UnsafePointer<Float>, inter: Int, into out: UnsafeMutablePointer<Float>) {
        let kernel = KernelTable.active.siluMul
        for r in range {
            let g = gateUp + r * 2 * inter
            kernel(g, g + inter, out + r * inter, inter)
        }
    }

    /// y += alpha · x, n floats.
    @inline(__always)
    public static func addScaled(_ x: UnsafePointer<Float>, _ alpha: Float, into y: UnsafeMutablePointer<Float>, count n: Int) {
        for i in 0..<n { y[i] += alpha * x[i] }
    }

    /// y += x, n floats.
    @inline(__always)
    public static func add(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count n: Int) {
        for i in 0..<n { y[i] += x[i] }
    }
}

extension Elementwise {
    /// In-place softmax of each row's first `cols` entries (natural exp, max-subtracted).
    public static func softmaxRows(_ x: UnsafeMutablePointer<Float>, rows: Int, cols: Int, stride: Int? = nil) {
        let s = stride ?? cols
        for r in 0..<rows {
            let row = x + r * s
            let sum = VectorMath.expShifted(row, count: cols, shift: VectorMath.max(row, count: cols))
            VectorMath.scale(row, count: cols, by: 1 / sum)
        }
    }
}

/// A row-wise pass over many rows split into contiguous row ranges over the `Parallel` workers
/// (each row's result is independent of the split). Under `parallelFloats` floats read the pass
/// stays on the calling thread: decode's few rows would pay more for the fan-out than the pass
/// costs. One job object per calling thread, reused: no allocation per call.
private final class RowPass: ParallelJob {
    enum Pass {
        case rmsNorm(x: UnsafePointer<Float>, stride: Int, dim: Int, weight: UnsafePointer<Float>, eps: Float,
                     y: UnsafeMutablePointer<Float>, outStride: Int)
        case siluMul(gateUp: UnsafePointer<Float>, inter: Int, out: UnsafeMutablePointer<Float>)
    }
    /// 256 Ki floats (1 MiB): 128 rows of a 2048-wide norm.
    static let parallelFloats = 1 << 18
    private static let perThread = PerThread { RowPass() }
    /// The call in progress, read by the workers.
    private var call: (pass: Pass, rows: Int)?

    static func run(_ pass: Pass, rows: Int, width: Int) {
        let workers = rows * width < parallelFloats ? 1 : Parallel.workers(for: rows)
        guard workers > 1 else { apply(pass, rows: 0..<rows); return }
        let job = perThread.current
        job.call = (pass, rows)
        Parallel.run(workers: workers, job)
        job.call = nil
    }

    func work(worker: Int, workers: Int) {
        guard let c = call else { return }
        Self.apply(c.pass, rows: Parallel.share(of: c.rows, worker: worker, workers: workers))
    }

    private static func apply(_ pass: Pass, rows: Range<Int>) {
        guard !rows.isEmpty else { return }
        switch pass {
        case let .rmsNorm(x, stride, dim, weight, eps, y, outStride):
            Elementwise.rmsNorm(rows: rows, x, stride: stride, dim: dim, weight: weight, eps: eps, into: y, outStride: outStride)
        case let .siluMul(gateUp, inter, out):
            Elementwise.siluMul(rows: rows, gateUp: gateUp, inter: inter, into: out)
        }
    }
}
