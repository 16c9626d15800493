import CKernels

/// WeightMatrix as the C kernels see it, and its conversion to f32 (prefill panels, `--weights-dtype f32`).
extension WeightMatrix {
    /// The C view (CKernels.h `ck_weight`).
    var kernelView: ck_weight {
        var view = ck_weight(dtype: 0, base: base, rows: rows, cols: cols, row_stride: rowStride, scales: nil,
                             block_rows: 1, block_cols: 1, scale_stride: 0, nan_free: 0)
        switch storage {
        case .f32: view.dtype = Int32(CK_WEIGHT_F32.rawValue)
        case .bf16: view.dtype = Int32(CK_WEIGHT_BF16.rawValue)
        case .f16: view.dtype = Int32(CK_WEIGHT_F16.rawValue)
        case let .fp8E4M3(scales, blockRows, blockCols, scaleStride):
            precondition(blockRows > 0 && blockCols > 0 && scaleStride >= (cols + blockCols - 1) / blockCols,
                         "FP8 weight [\(rows), \(cols)]: blocks \(blockRows)×\(blockCols), scale stride \(scaleStride)")
            view.dtype = Int32(CK_WEIGHT_FP8_E4M3.rawValue)
            view.scales = scales
            view.block_rows = blockRows
            view.block_cols = blockCols
            view.scale_stride = scaleStride
            view.nan_free = freeOfNaNCodes ? 1 : 0
        }
        return view
    }

    /// This matrix with `freeOfNaNCodes` set when it is FP8 and none of its bytes is a NaN code (one
    /// read of every byte, at load); other dtypes unchanged.
    public func scannedForNaNCodes() -> WeightMatrix {
        guard case .fp8E4M3 = storage else { return self }
        var scanned = self
        scanned.freeOfNaNCodes = ck_fp8_has_nan_code(base, rows, cols, rowStride) == 0
        return scanned
    }

    /// This matrix — a repacking of some of `source`'s bytes (W_UK's heads transposed out of kv_b) —
    /// marked free of NaN codes without a second read when `source` was scanned free of them (a
    /// repacking adds no byte); else scanned (`source` may hold a code outside the repacked part).
    public func scannedForNaNCodes(repackedFrom source: WeightMatrix) -> WeightMatrix {
        guard case .fp8E4M3 = storage, source.freeOfNaNCodes else { return scannedForNaNCodes() }
        var marked = self
        marked.freeOfNaNCodes = true
        return marked
    }

    /// out[r − rows.lowerBound, 0..<cols] = row r as f32 (out rows `ldo` floats apart), on the calling
    /// thread. Exact: bf16/f16 upcast, FP8 fl(q · scale) — the f32 weights HF computes.
    public func convertRows(_ rows: Range<Int>, into out: UnsafeMutablePointer<Float>, ldo: Int? = nil) {
        convertRows(rows, into: out, ldo: ldo ?? cols, kernels: .active)
    }

    func convertRows(_ range: Range<Int>, into out: UnsafeMutablePointer<Float>, ldo: Int, kernels: KernelTable) {
        precondition(range.lowerBound >= 0 && range.upperBound <= rows && ldo >= cols, "convertRows \(range) of [\(rows), \(cols)]")
        guard !range.isEmpty, cols > 0 else { return }
        var view = kernelView
        kernels.weightRowsToF32(&view, range.lowerBound, range.upperBound, out, ldo)
    }

    /// The whole matrix as f32 into out[rows, ldo], split over the BLAS thread budget (load-time upcast).
    public func convertToF32(into out: UnsafeMutablePointer<Float>, ldo: Int? = nil) {
        convertRowsInParallel(0..<rows, into: out, ldo: ldo ?? cols)
    }

    /// convertRows split over the BLAS thread budget (at least 256 Ki elements per worker): prefill's
    /// weight panels, converted while sgemm's threads would otherwise wait. The same bits as convertRows.
    public func convertRowsInParallel(_ range: Range<Int>, into out: UnsafeMutablePointer<Float>, ldo: Int) {
        let workers = min(Parallel.workers(for: range.count), max(1, range.count * cols / (1 << 18)))
        guard workers > 1 else { convertRows(range, into: out, ldo: ldo, kernels: .active); return }
        let job = RowConversion.perThread.current
        job.call = (self, range, out, ldo)
        Parallel.run(workers: workers, job)
        job.call = nil
    }
}

/// convertRowsInParallel's job: contiguous row slices per worker. One per calling thread, reused.
private final class RowConversion: ParallelJob {
    static let perThread = PerThread { RowConversion() }
    /// The call in progress, read by the workers.
    var call: (weight: WeightMatrix, range: Range<Int>, out: UnsafeMutablePointer<Float>, ldo: Int)?

    func work(worker: Int, workers: Int) {
        guard let rows = call else { return }
        let share = Parallel.share(of: rows.range.count, worker: worker, workers: workers)
        rows.weight.convertRows(rows.range.lowerBound + share.lowerBound..<rows.range.lowerBound + share.upperBound,
                                into: rows.out + share.lowerBound * rows.ldo, ldo: rows.ldo, kernels: .active)
    }
}
