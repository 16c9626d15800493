import Foundation
@testable import Kernels
import Tensors

/// A weight [n, k] in bf16 / f16 / FP8 E4M3 built from random bit patterns, with the f32 matrix it
/// encodes computed independently of the kernels (Basics/Tensors codecs; FP8 from the format).
final class StoredWeight {
    enum DType: String, CaseIterable { case bf16, f16, fp8 }

    let dtype: DType, rows: Int, cols: Int, rowStride: Int
    let bytes: UnsafeMutableRawPointer
    let scales: UnsafeMutablePointer<Float>
    let scaleRows: Int, scaleStride: Int
    /// The encoded values, rows × cols (no stride): bf16/f16 upcast, FP8 Float(q) · scale.
    let decoded: [Float]

    /// FP8 scale blocks: block × block weights (DeepSeek-V3's 128; the FP8 goldens' 16).
    let block: Int

    /// `scaleOverride` sets scale[0][0] (to reach the two-multiply path or subnormal products).
    init(_ dtype: DType, rows: Int, cols: Int, rowStride: Int? = nil, seed: UInt64, scaleOverride: Float? = nil, block: Int = 128) {
        self.dtype = dtype; self.rows = rows; self.cols = cols; self.block = block
        let stride = rowStride ?? cols
        self.rowStride = stride
        var g = SeededRandom(seed: seed)
        let elementBytes = dtype == .fp8 ? 1 : 2
        bytes = UnsafeMutableRawPointer.allocate(byteCount: max(1, rows * stride * elementBytes), alignment: 64)
        scaleRows = (rows + block - 1) / block
        scaleStride = (cols + block - 1) / block + 1          // wider than needed, as a slice's would be
        scales = .allocate(capacity: max(1, scaleRows * scaleStride))
        for i in 0..<scaleRows * scaleStride { scales[i] = Float.random(in: 1e-3...0.1, using: &g) }
        if let scaleOverride, scaleRows > 0 { scales[0] = scaleOverride }
        var decoded = [Float](repeating: 0, count: rows * cols)
        for r in 0..<rows {
            for c in 0..<cols {
                let index = r * stride + c
                switch dtype {
                case .bf16:
                    // Values in ±[2^-8, 2^2): finite, normal.
                    let v = Float.random(in: -4...4, using: &g)
                    let b = BFloat16.bits(from: v)
                    bytes.storeBytes(of: b, toByteOffset: 2 * index, as: UInt16.self)
                    decoded[r * cols + c] = BFloat16.float(from: b)
                case .f16:
                    var v = Float.random(in: -4...4, using: &g)
                    if (r + c) % 17 == 0 { v *= 1e-5 }                         // some f16 subnormals
                    var h: UInt16 = 0
                    DTypeConversion.f32ToF16(&v, &h, count: 1)
                    bytes.storeBytes(of: h, toByteOffset: 2 * index, as: UInt16.self)
                    var back: Float = 0
                    DTypeConversion.f16ToF32(&h, &back, count: 1)
                    decoded[r * cols + c] = back
                case .fp8:
                    var q = UInt8.random(in: 0...255, using: &g)
                    if q & 0x7F == 0x7F { q ^= 0x01 }                          // no NaN in a dot product test
                    bytes.storeBytes(of: q, toByteOffset: index, as: UInt8.self)
                    let scale = scales[(r / block) * scaleStride + c / block]
                    decoded[r * cols + c] = Float(FP8Reference.value(q)) * scale
                }
            }
        }
        self.decoded = decoded
    }

    deinit { bytes.deallocate(); scales.deallocate() }

    var matrix: WeightMatrix {
        let storage: WeightMatrix.Storage
        switch dtype {
        case .bf16: storage = .bf16
        case .f16: storage = .f16
        case .fp8: storage = .fp8E4M3(scales: UnsafePointer(scales), blockRows: block, blockCols: block, scaleStride: scaleStride)
        }
        return WeightMatrix(storage: storage, base: UnsafeRawPointer(bytes), rows: rows, cols: cols, rowStride: rowStride)
    }

    /// `matrix`, and for FP8 also `matrix` scanned for NaN codes (free of them unless a test wrote one).
    var views: [WeightMatrix] { dtype == .fp8 ? [matrix, matrix.scannedForNaNCodes()] : [matrix] }
}

/// FP8 E4M3 (float8_e4m3fn) from its definition: s eeee mmm, bias 7, e = 0 subnormal
/// (m/8 · 2^-6), 0x7F / 0xFF NaN, no infinities.
enum FP8Reference {
    static func value(_ byte: UInt8) -> Double {
        let sign: Double = byte & 0x80 != 0 ? -1 : 1
        let e = Int(byte >> 3) & 0xF, m = Double(byte & 7)
        if e == 15 && m == 7 { return .nan }
        if e == 0 { return sign * m / 8 * pow(2, -6) }
        return sign * (1 + m / 8) * pow(2, Double(e - 7))
    }
}
