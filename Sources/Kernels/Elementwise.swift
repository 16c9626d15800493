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
            var sum: Float = 0
            for i in 0..<dim { sum += xr[i] * xr[i] }
            let inv = 1 / (sum / Float(dim) + eps).squareRoot()
            for i in 0..<dim { yr[i] = weight[i] * (xr[i] * inv) }
        }
    }

    /// SwiGLU gate: gateUp is [rows, 2·inter] with gate in the first half and up in the second;
    /// writes silu(gate) ⊙ up into out [rows, inter].
    public static func siluMul(
        gateUp: UnsafePointer<Float>, rows: Int, inter: Int, into out: UnsafeMutablePointer<Float>
    ) {
        for r in 0..<rows {
            let g = gateUp + r * 2 * inter, u = g + inter, o = out + r * inter
            for i in 0..<inter {
                let x = g[i]
                o[i] = x / (1 + expf(-x)) * u[i]
            }
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
            var mx = -Float.infinity
            for c in 0..<cols where row[c] > mx { mx = row[c] }
            var sum: Float = 0
            for c in 0..<cols { let e = expf(row[c] - mx); row[c] = e; sum += e }
            let inv = 1 / sum
            for c in 0..<cols { row[c] *= inv }
        }
    }
}
