/// DeepSeek-V3's weight quantization: per block of `block`×`block` elements (partial blocks at
/// the edges), scale_inv = amax / 448 and q = e4m3(w / scale_inv), so that q · scale_inv
/// dequantizes (`weight_scale_inv` in the checkpoints). An all-zero block gets scale_inv 1.
public enum FP8BlockQuantizer {
    public struct Result {
        public let codes: [UInt8]            // [rows, cols] E4M3 bytes
        public let scaleInv: [Float]         // [ceil(rows / block), ceil(cols / block)]
        public let scaleShape: [Int]
    }

    public static let maxFinite: Float = 448

    public static func quantize(_ w: [Float], rows: Int, cols: Int, block: Int) -> Result {
        precondition(w.count == rows * cols, "FP8BlockQuantizer: \(w.count) values for [\(rows), \(cols)]")
        let blockRows = (rows + block - 1) / block, blockCols = (cols + block - 1) / block
        var scales = [Float](repeating: 1, count: blockRows * blockCols)
        var codes = [UInt8](repeating: 0, count: rows * cols)
        for bi in 0..<blockRows {
            let r0 = bi * block, r1 = min(rows, r0 + block)
            for bj in 0..<blockCols {
                let c0 = bj * block, c1 = min(cols, c0 + block)
                var amax: Float = 0
                for r in r0..<r1 { for c in c0..<c1 { amax = max(amax, abs(w[r * cols + c])) } }
                let scale = amax > 0 ? amax / maxFinite : 1
                scales[bi * blockCols + bj] = scale
                for r in r0..<r1 { for c in c0..<c1 { codes[r * cols + c] = DTypeConversion.f32ToE4M3(w[r * cols + c] / scale) } }
            }
        }
        return Result(codes: codes, scaleInv: scales, scaleShape: [blockRows, blockCols])
    }
}
