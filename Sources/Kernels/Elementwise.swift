import Foundation

/// Row-wise normalisation and activation passes (one pass over memory each).
public enum Elementwise {
    /// HF DeepSeek RMSNorm: y = w ⊙ x / sqrt(mean(x²) + eps), per row. x, y: [rows, dim]; may alias.
    public static func rmsNorm(
        _ x: UnsafePointer<Float>, rows: Int, dim: Int, stride: Int? = nil,
        weight: UnsafePointer<Float>, eps: Float, into y: UnsafeMutablePointer<Float>, outStride: Int? = nil
    ) {
        let sx = stride ?? dim, sy = outStride ?? dim
        for r in 0..<rows {
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
    /// writes silu(gate) ⊙ up into out [rows, inter].
    public static func siluMul(
        gateUp: UnsafePointer<Float>, rows: Int, inter: Int, into out: UnsafeMutablePointer<Float>
    ) {
        let kernel = KernelTable.active.siluMul
        for r in 0..<rows {
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
