import Kernels
import Tensors

/// Copies of one weight shape in one stored dtype, enough of them that a sweep over all streams
/// well past the last-level cache (as a decode step streams every layer's weights once; at least
/// two, so consecutive calls never reread the copy just read), filled with finite values
/// (f32/bf16/f16 of magnitude [1, 2), FP8 bytes without the NaN codes). `sweepBytes` 0: one copy, for
/// a compute yardstick that keeps its weight hot (GEMMPeak). In `WeightMemory` (huge pages), as the
/// model's weights are under `--weights-memory huge-pages`, its executables' choice for one process.
final class StoredWeightCopies {
    enum DType: String, CaseIterable { case f32, bf16, f16, fp8 }

    let dtype: DType, rows: Int, cols: Int
    let matrices: [WeightMatrix]
    private let storage: WeightMemory, scales: UnsafeMutablePointer<Float>
    /// Bytes of all copies (elements and FP8 scales).
    let totalBytes: Int
    /// Every byte of the copies as floats, for the read pass.
    let regions: [UnsafeRawBufferPointer]

    static let fp8Block = 128

    init(_ dtype: DType, rows: Int, cols: Int, sweepBytes: Int) {
        self.dtype = dtype; self.rows = rows; self.cols = cols
        let elementBytes = [DType.f32: 4, .bf16: 2, .f16: 2, .fp8: 1][dtype]!
        let matrixBytes = (rows * cols * elementBytes + 63) & ~63
        let scaleCols = (cols + Self.fp8Block - 1) / Self.fp8Block, scaleCount = ((rows + Self.fp8Block - 1) / Self.fp8Block) * scaleCols
        let copies = sweepBytes == 0 ? 1 : max(2, (sweepBytes + matrixBytes - 1) / matrixBytes)
        storage = WeightMemory.allocate(count: copies * matrixBytes, for: "\(copies) \(dtype) copies of \(rows) × \(cols)")
        let memory = storage.pointer
        scales = .allocate(capacity: copies * scaleCount)
        var state: UInt32 = 0x9E37_79B9
        let words = memory.bindMemory(to: UInt32.self, capacity: copies * matrixBytes / 4)
        for i in 0..<copies * matrixBytes / 4 {
            state ^= state << 13; state ^= state >> 17; state ^= state << 5       // xorshift32
            switch dtype {
            case .f32: words[i] = 0x3F80_0000 | (state & 0x807F_FFFF)
            case .bf16, .f16:
                let exponent: UInt32 = dtype == .bf16 ? 0x3F80_3F80 : 0x3C00_3C00
                words[i] = exponent | (state & (dtype == .bf16 ? 0x807F_807F : 0x83FF_83FF))
            case .fp8: words[i] = state & 0xBEBE_BEBE                           // e ≤ 7 in every byte: never 0x7F
            }
        }
        for i in 0..<copies * scaleCount { scales[i] = 0.01 }
        var matrices: [WeightMatrix] = []
        for c in 0..<copies {
            let base = UnsafeRawPointer(memory + c * matrixBytes)
            let storage: WeightMatrix.Storage
            switch dtype {
            case .f32: storage = .f32
            case .bf16: storage = .bf16
            case .f16: storage = .f16
            case .fp8: storage = .fp8E4M3(scales: UnsafePointer(scales + c * scaleCount), blockRows: Self.fp8Block,
                                          blockCols: Self.fp8Block, scaleStride: scaleCols)
            }
            matrices.append(WeightMatrix(storage: storage, base: base, rows: rows, cols: cols).scannedForNaNCodes())
        }
        self.matrices = matrices
        totalBytes = matrices.reduce(0) { $0 + $1.streamedBytes }
        regions = [UnsafeRawBufferPointer(start: memory, count: copies * matrixBytes),
                   UnsafeRawBufferPointer(start: UnsafeRawPointer(scales), count: dtype == .fp8 ? copies * scaleCount * 4 : 0)]
    }

    deinit { scales.deallocate() }
}
