/// A weight matrix W[rows, cols] — an HF `nn.Linear` weight [out, in], row-major — viewed in the
/// dtype its checkpoint stores it in (memory-mapped or repacked once; never upcast wholesale).
/// Kernels read it directly: decode's skinny GEMM dequantizes in registers, prefill converts one
/// panel of rows at a time into f32 scratch right before sgemm.
///
/// FP8 follows DeepSeek-V3 / Kimi-K2's `quantization_config` (`fmt: e4m3`, `weight_block_size:
/// [128, 128]`): element (r, c) is `q[r, c] · scale[r / blockRows, c / blockCols]`, with
/// `weight_scale_inv` as the f32 scale grid [ceil(rows / 128), ceil(cols / 128)]; edge blocks are
/// partial (e.g. kv_a_proj_with_mqa's 576 rows = 4.5 blocks).
public struct WeightMatrix: @unchecked Sendable {
    public enum Storage: @unchecked Sendable, Equatable {
        case f32
        case bf16
        case f16
        /// `scales` points at the f32 grid [ceil(rows / blockRows), scaleStride ≥ ceil(cols / blockCols)].
        case fp8E4M3(scales: UnsafePointer<Float>, blockRows: Int, blockCols: Int, scaleStride: Int)

        public static func == (a: Storage, b: Storage) -> Bool {
            switch (a, b) {
            case (.f32, .f32), (.bf16, .bf16), (.f16, .f16): return true
            case let (.fp8E4M3(s1, r1, c1, t1), .fp8E4M3(s2, r2, c2, t2)): return s1 == s2 && r1 == r2 && c1 == c2 && t1 == t2
            default: return false
            }
        }
    }

    public let storage: Storage
    /// Element (0, 0); row r starts `r · rowStride` elements later.
    public let base: UnsafeRawPointer
    public let rows: Int
    public let cols: Int
    public let rowStride: Int
    /// FP8 only: `scannedForNaNCodes()` found none of E4M3's NaN codes (0x7F / 0xFF), so the decode
    /// kernels skip their test of every 64-byte line. Views keep it; false until scanned.
    public internal(set) var freeOfNaNCodes = false

    public init(storage: Storage, base: UnsafeRawPointer, rows: Int, cols: Int, rowStride: Int? = nil) {
        precondition(rows >= 0 && cols >= 0 && (rowStride ?? cols) >= cols, "WeightMatrix [\(rows), \(cols)] stride \(rowStride ?? cols)")
        self.storage = storage
        self.base = base
        self.rows = rows
        self.cols = cols
        self.rowStride = rowStride ?? cols
    }

    /// An f32 matrix.
    public init(f32 pointer: UnsafePointer<Float>, rows: Int, cols: Int, rowStride: Int? = nil) {
        self.init(storage: .f32, base: UnsafeRawPointer(pointer), rows: rows, cols: cols, rowStride: rowStride)
    }

    /// Bytes per stored element.
    public var elementBytes: Int {
        switch storage {
        case .f32: return 4
        case .bf16, .f16: return 2
        case .fp8E4M3: return 1
        }
    }

    /// Bytes one full pass over the matrix reads (elements plus FP8 scales): decode's floor counts these.
    public var streamedBytes: Int {
        var bytes = rows * cols * elementBytes
        if case let .fp8E4M3(_, blockRows, blockCols, _) = storage {
            bytes += ((rows + blockRows - 1) / blockRows) * ((cols + blockCols - 1) / blockCols) * 4
        }
        return bytes
    }

    /// Rows `range` as a view of the same bytes; nil when an FP8 view would not start on a scale
    /// block row (its scales could not be addressed as a grid of their own).
    public func rows(_ range: Range<Int>) -> WeightMatrix? {
        precondition(range.lowerBound >= 0 && range.upperBound <= rows, "rows \(range) of [\(rows), \(cols)]")
        var sliced = storage
        if case let .fp8E4M3(scales, blockRows, blockCols, scaleStride) = storage {
            guard range.lowerBound % blockRows == 0 else { return nil }
            sliced = .fp8E4M3(scales: scales + range.lowerBound / blockRows * scaleStride, blockRows: blockRows,
                              blockCols: blockCols, scaleStride: scaleStride)
        }
        var view = WeightMatrix(storage: sliced, base: base + range.lowerBound * rowStride * elementBytes, rows: range.count,
                                cols: cols, rowStride: rowStride)
        view.freeOfNaNCodes = freeOfNaNCodes
        return view
    }

    /// Columns `range` as a view of the same bytes (the row stride stays); nil when an FP8 view
    /// would not start on a scale block column.
    public func columns(_ range: Range<Int>) -> WeightMatrix? {
        precondition(range.lowerBound >= 0 && range.upperBound <= cols, "columns \(range) of [\(rows), \(cols)]")
        var sliced = storage
        if case let .fp8E4M3(scales, blockRows, blockCols, scaleStride) = storage {
            guard range.lowerBound % blockCols == 0 else { return nil }
            sliced = .fp8E4M3(scales: scales + range.lowerBound / blockCols, blockRows: blockRows, blockCols: blockCols,
                              scaleStride: scaleStride)
        }
        var view = WeightMatrix(storage: sliced, base: base + range.lowerBound * elementBytes, rows: rows, cols: range.count,
                                rowStride: rowStride)
        view.freeOfNaNCodes = freeOfNaNCodes
        return view
    }

    /// The f32 pointer of an f32 matrix; nil for every other storage.
    public var f32Pointer: UnsafePointer<Float>? {
        storage == .f32 ? base.assumingMemoryBound(to: Float.self) : nil
    }
}
