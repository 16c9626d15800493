import CKernels
import Foundation
@testable import Kernels
import Tensors
import TestSupport
import XCTest

/// The stored-dtype kernels (bf16, f16, FP8 E4M3) of every variant this CPU runs, against
/// references computed without them.
final class StoredWeightKernelTests: XCTestCase {
    func random(_ n: Int, seed: UInt64) -> [Float] {
        var g = SeededRandom(seed: seed)
        return (0..<n).map { _ in Float.random(in: -1...1, using: &g) }
    }

    /// All 256 FP8 bytes: the scalar definition and every variant's conversion (scale 1, and a
    /// block scale) equal the format's values bit for bit; NaN bytes give NaN. A few values
    /// cross-checked against torch 2.15's float8_e4m3fn → float32 (bit patterns printed by
    /// `torch.arange(256, dtype=torch.uint8).view(torch.float8_e4m3fn).float()`).
    func testFP8AllBytePatterns() {
        let torch: [UInt8: UInt32] = [0x00: 0x0000_0000, 0x01: 0x3B00_0000, 0x07: 0x3C60_0000, 0x08: 0x3C80_0000,
                                      0x38: 0x3F80_0000, 0x7E: 0x43E0_0000, 0x80: 0x8000_0000, 0x81: 0xBB00_0000,
                                      0xFE: 0xC3E0_0000, 0x7F: 0x7FF0_0000, 0xFF: 0xFFF0_0000]
        for (byte, bits) in torch {
            XCTAssertEqual(ck_fp8_e4m3_to_f32(byte).bitPattern, bits, "torch byte \(byte)")
            let reference = Float(FP8Reference.value(byte))
            if reference.isNaN { XCTAssertTrue(Float(bitPattern: bits).isNaN) } else { XCTAssertEqual(reference.bitPattern, bits) }
        }
        // One row holding the 256 patterns in two FP8 blocks, scales 1 and 0.37.
        var row = (0...255).map { UInt8($0) }
        var scales: [Float] = [1, 0.37]
        for table in KernelVariants.available {
            var out = [Float](repeating: 7, count: 256)
            row.withUnsafeMutableBytes { bytes in
                scales.withUnsafeMutableBufferPointer { s in
                    let w = WeightMatrix(storage: .fp8E4M3(scales: UnsafePointer(s.baseAddress!), blockRows: 128, blockCols: 128, scaleStride: 2),
                                         base: UnsafeRawPointer(bytes.baseAddress!), rows: 1, cols: 256)
                    w.convertRows(0..<1, into: &out, ldo: 256, kernels: table)
                }
            }
            for byte in 0...255 {
                let reference = Float(FP8Reference.value(UInt8(byte)))
                let scalar = ck_fp8_e4m3_to_f32(UInt8(byte))
                let want = reference * scales[byte / 128]
                if reference.isNaN {
                    XCTAssertTrue(scalar.isNaN && out[byte].isNaN, "\(table.isa) byte \(byte)")
                } else {
                    XCTAssertEqual(scalar.bitPattern, reference.bitPattern, "scalar byte \(byte)")
                    XCTAssertEqual(out[byte].bitPattern, want.bitPattern, "\(table.isa) byte \(byte)")
                }
            }
        }
    }

    /// bf16 and f16: all 65536 bit patterns through every variant's conversion equal Basics.BFloat16
    /// and Tensors.DTypeConversion bit for bit (NaNs: NaN with the same sign).
    func testHalfConversionsMatchTheCodecs() {
        var patterns = (0...0xFFFF).map { UInt16($0) }
        var f16Reference = [Float](repeating: 0, count: patterns.count)
        DTypeConversion.f16ToF32(patterns, &f16Reference, count: patterns.count)
        let bf16Reference = patterns.map { BFloat16.float(from: $0) }
        for table in KernelVariants.available {
            for (storage, reference) in [(WeightMatrix.Storage.bf16, bf16Reference), (.f16, f16Reference)] {
                var out = [Float](repeating: 0, count: patterns.count)
                patterns.withUnsafeMutableBytes { bytes in
                    // 256 rows of 256: row conversion with several rows.
                    let w = WeightMatrix(storage: storage, base: UnsafeRawPointer(bytes.baseAddress!), rows: 256, cols: 256)
                    w.convertRows(0..<256, into: &out, ldo: 256, kernels: table)
                }
                var mismatches = 0
                for i in 0..<patterns.count {
                    let same = reference[i].isNaN
                        ? out[i].isNaN && out[i].sign == reference[i].sign
                        : out[i].bitPattern == reference[i].bitPattern
                    if !same { mismatches += 1 }
                    if !same && mismatches < 5 { XCTFail("\(table.isa) \(storage) pattern \(i): \(out[i].bitPattern) vs \(reference[i].bitPattern)") }
                }
                XCTAssertEqual(mismatches, 0, "\(table.isa) \(storage)")
            }
        }
    }

    /// y = alpha · x · Wᵀ (+ y) for every dtype × variant, m = 1…8 (one kernel call, over a row
    /// slice first..<n as a worker takes), ragged k (vector tails, FP8 column blocks of 128 with a
    /// partial last one) and n (576 rows = 4.5 FP8 row blocks), against Double dots of the decoded weights.
    func testSkinnyStoredWeightsAgainstDoubleReference() {
        var cases = 0
        for dtype in StoredWeight.DType.allCases {
            for k in [1, 7, 127, 128, 129, 255, 576, 1037, 4100] {   // 4100: AVX-512 bf16 / f16 long rows (8 side by side at m = 1)
                for n in [1, 7, 576] {
                    let weight = StoredWeight(dtype, rows: n, cols: k, rowStride: k + 3, seed: UInt64(k * 977 + n))
                    let lda = k + 1, ldy = n + 2
                    let x = random(SkinnyLinear.maxRows * lda, seed: UInt64(k + n))
                    let start = random(SkinnyLinear.maxRows * ldy, seed: 9)
                    let first = n > 3 ? 3 : 0
                    // Σ x·w and Σ |x·w| per (x row, weight row), in Double.
                    var dots = [Double](repeating: 0, count: SkinnyLinear.maxRows * n), magnitudes = dots
                    for r in 0..<SkinnyLinear.maxRows {
                        for j in 0..<n {
                            (dots[r * n + j], magnitudes[r * n + j]) = referenceDot(k) { Double(x[r * lda + $0]) * Double(weight.decoded[j * k + $0]) }
                        }
                    }
                    // FP8 also scanned free of NaN codes: the kernels without their per-line test.
                    for (table, matrix) in KernelVariants.available.flatMap({ t in weight.views.map { (t, $0) } }) {
                        var view = matrix.kernelView
                        for m in 1...SkinnyLinear.maxRows {
                            let accumulate = (m + n) % 2 == 0, alpha: Float = accumulate ? 0.75 : 1   // both at every m
                            var y = start
                            table.skinnyWeight(x, m, lda, &view, &y, ldy, first, n, accumulate ? 1 : 0, alpha)
                            for r in 0..<m {
                                for j in 0..<ldy {
                                    let index = r * ldy + j
                                    guard j >= first && j < n else {
                                        XCTAssertEqual(y[index].bitPattern, start[index].bitPattern, "untouched \(j)"); continue
                                    }
                                    let want = Double(alpha) * dots[r * n + j] + (accumulate ? Double(start[index]) : 0)
                                    let bound = 1e-6 * (magnitudes[r * n + j] + 1)
                                    if !(abs(Double(y[index]) - want) <= bound) {
                                        XCTFail("\(dtype) \(table.isa) nan-free \(matrix.freeOfNaNCodes) k=\(k) n=\(n) m=\(m) r=\(r) j=\(j): \(y[index]) vs \(want)")
                                        return
                                    }
                                }
                            }
                            cases += 1
                        }
                    }
                }
            }
        }
        XCTAssertEqual(cases, 4 * 9 * 3 * 8 * KernelVariants.available.count)
    }

    /// FP8 scales at the edges — large (300, 1e30: past the 2^8 where scale · 2^120 overflows) and
    /// subnormal (1e-40, 3e-39: products below f32's normal range) — convert exactly to fl(q · scale),
    /// and the skinny kernels (one x row: scales folded into x, or partial block dots scaled once for
    /// scales outside [2^-32, 2^32]; more: weights dequantized in registers) stay within f32 rounding
    /// of the Double dot of q · scale.
    func testFP8ExtremeScales() {
        for scale: Float in [300, 1e30, 1e-40, 3e-39] {
            let weight = StoredWeight(.fp8, rows: 130, cols: 200, seed: 77, scaleOverride: scale)
            let x = random(3 * 200, seed: 3)
            for table in KernelVariants.available {
                var out = [Float](repeating: 0, count: 130 * 200)
                weight.matrix.convertRows(0..<130, into: &out, ldo: 200, kernels: table)
                XCTAssertEqual(out.map(\.bitPattern), weight.decoded.map(\.bitPattern), "\(table.isa) scale \(scale)")
                for m in 1...3 {
                    var y = [Float](repeating: 0, count: m * 130)
                    SkinnyLinear.runOnThisThread(x, rows: m, lda: nil, weight: weight.matrix, into: &y, ldy: nil, accumulate: false,
                                                 alpha: 1, kernels: table)
                    for r in 0..<m {
                        for j in 0..<130 {
                            let (dot, magnitude) = referenceDot(200) { i in
                                let q = weight.bytes.load(fromByteOffset: j * 200 + i, as: UInt8.self)
                                return FP8Reference.value(q) * Double(weight.scales[(j / 128) * weight.scaleStride + i / 128]) * Double(x[r * 200 + i])
                            }
                            XCTAssertLessThanOrEqual(abs(Double(y[r * 130 + j]) - dot), 1e-6 * magnitude + 1e-44,
                                                     "\(table.isa) scale \(scale) m=\(m) x row \(r) row \(j)")
                        }
                    }
                }
            }
        }
    }

    /// A NaN code (0x7F / 0xFF) anywhere — in a full 64-byte line, the 16/8-column steps after the
    /// lines, the tail — makes its row's outputs NaN and leaves every other row's bits unchanged.
    func testFP8NaNReachesOnlyItsRow() {
        let k = 300, n = 6
        for column in [5, 70, 200, 290, 299] {
            for code: UInt8 in [0x7F, 0xFF] {
                let weight = StoredWeight(.fp8, rows: n, cols: k, seed: 5)
                let x = random(3 * k, seed: 6)
                for table in KernelVariants.available {
                    // One x row and several round differently (block partials vs dequantized weights):
                    // each poisoned run is compared with a clean run of the same row count.
                    var clean = [Int: [Float]](), poisoned = [Float](repeating: 0, count: 3 * n)
                    for m in [1, 3] {
                        var y = [Float](repeating: 0, count: 3 * n)
                        SkinnyLinear.runOnThisThread(x, rows: m, lda: nil, weight: weight.matrix, into: &y, ldy: nil, accumulate: false,
                                                     alpha: 1, kernels: table)
                        clean[m] = y
                    }
                    let saved = weight.bytes.load(fromByteOffset: 2 * k + column, as: UInt8.self)
                    weight.bytes.storeBytes(of: code, toByteOffset: 2 * k + column, as: UInt8.self)
                    for m in [1, 3] {
                        SkinnyLinear.runOnThisThread(x, rows: m, lda: nil, weight: weight.matrix, into: &poisoned, ldy: nil, accumulate: false,
                                                     alpha: 1, kernels: table)
                        for r in 0..<m {
                            for j in 0..<n {
                                if j == 2 { XCTAssertTrue(poisoned[r * n + j].isNaN, "\(table.isa) column \(column) m=\(m)") }
                                else { XCTAssertEqual(poisoned[r * n + j].bitPattern, clean[m]![r * n + j].bitPattern, "\(table.isa) row \(j) m=\(m)") }
                            }
                        }
                    }
                    weight.bytes.storeBytes(of: saved, toByteOffset: 2 * k + column, as: UInt8.self)
                }
            }
        }
    }

    /// The load-time scan finds a NaN code (0x7F / 0xFF) wherever it sits in the matrix — first byte,
    /// the word-at-a-time body, a row's tail bytes, the last byte — and ignores bytes past `cols` in a
    /// row's stride; views keep the result; other dtypes are returned as they are.
    func testNaNCodeScan() {
        let k = 203, n = 5, stride = 211
        let clean = StoredWeight(.fp8, rows: n, cols: k, rowStride: stride, seed: 12)
        XCTAssertTrue(clean.matrix.scannedForNaNCodes().freeOfNaNCodes)
        XCTAssertFalse(clean.matrix.freeOfNaNCodes, "unscanned")
        for offset in [0, 77, 200, 2 * stride + 202, (n - 1) * stride + k - 1] {
            for code: UInt8 in [0x7F, 0xFF] {
                let saved = clean.bytes.load(fromByteOffset: offset, as: UInt8.self)
                clean.bytes.storeBytes(of: code, toByteOffset: offset, as: UInt8.self)
                XCTAssertFalse(clean.matrix.scannedForNaNCodes().freeOfNaNCodes, "code \(code) at \(offset)")
                clean.bytes.storeBytes(of: saved, toByteOffset: offset, as: UInt8.self)
            }
        }
        clean.bytes.storeBytes(of: UInt8(0x7F), toByteOffset: stride + k + 3, as: UInt8.self)   // padding, not the matrix
        let scanned = clean.matrix.scannedForNaNCodes()
        XCTAssertTrue(scanned.freeOfNaNCodes, "a NaN code in the stride padding")
        XCTAssertTrue(scanned.rows(0..<n)!.freeOfNaNCodes && scanned.columns(128..<k)!.freeOfNaNCodes, "views keep the scan")
        XCTAssertEqual(scanned.kernelView.nan_free, 1)
        XCTAssertFalse(StoredWeight(.bf16, rows: 2, cols: 8, seed: 1).matrix.scannedForNaNCodes().freeOfNaNCodes)
        // A repacking of a scanned-clean source is marked without a read (the 0x7F planted in it is
        // what such a read would find); of an unscanned source, it is scanned.
        let repack = StoredWeight(.fp8, rows: n, cols: k, seed: 13)
        repack.bytes.storeBytes(of: UInt8(0x7F), toByteOffset: 5, as: UInt8.self)
        XCTAssertTrue(repack.matrix.scannedForNaNCodes(repackedFrom: scanned).freeOfNaNCodes)
        XCTAssertFalse(repack.matrix.scannedForNaNCodes(repackedFrom: clean.matrix).freeOfNaNCodes, "unscanned source: scanned")
        repack.bytes.storeBytes(of: UInt8(0x01), toByteOffset: 5, as: UInt8.self)
        XCTAssertTrue(repack.matrix.scannedForNaNCodes(repackedFrom: clean.matrix).freeOfNaNCodes)
    }

    /// x rows the scaled-x FP8 kernels cannot fold the scales into — |x| ≥ 2^32, where fl(x · scale ·
    /// 2^64) could overflow — go through the block partials: finite values stay within f32 rounding of
    /// the Double dot, and an x row holding NaN gives NaN; with and without the NaN-code scan.
    func testFP8LargeInputs() {
        let k = 300, n = 9
        let weight = StoredWeight(.fp8, rows: n, cols: k, seed: 21)
        var x = random(8 * k, seed: 22)
        x[5] = 0x1p33; x[k + 100] = -1e30; x[3 * k + 299] = .nan
        for (table, matrix) in KernelVariants.available.flatMap({ t in weight.views.map { (t, $0) } }) {
            for m in 1...8 {
                var y = [Float](repeating: 0, count: m * n)
                SkinnyLinear.runOnThisThread(x, rows: m, lda: nil, weight: matrix, into: &y, ldy: nil, accumulate: false, alpha: 1,
                                             kernels: table)
                for r in 0..<m {
                    for j in 0..<n {
                        let got = y[r * n + j], label = "\(table.isa) nan-free \(matrix.freeOfNaNCodes) m=\(m) x row \(r) row \(j)"
                        if r == 3 { XCTAssertTrue(got.isNaN, label); continue }
                        let (dot, magnitude) = referenceDot(k) { Double(x[r * k + $0]) * Double(weight.decoded[j * k + $0]) }
                        XCTAssertLessThanOrEqual(abs(Double(got) - dot), 1e-6 * magnitude, label)
                    }
                }
            }
        }
    }

    /// Each kernel variant with 2–8 FP8 x rows (a decode batch) gives each row the bits it gets alone —
    /// the one-row scheme (block scales folded into x) and its FMA order per row — over partial
    /// blocks and column tails, a NaN code, both store modes and rows split by `first`; on AVX-512 also
    /// with 16-column blocks (the FP8 goldens').
    func testFP8RowsOfABatchEqualEachRowAlone() {
        for (k, n) in [(32, 3), (127, 5), (128, 130), (300, 7), (2048, 300)] {
            let weight = StoredWeight(.fp8, rows: n, cols: k, seed: UInt64(k * 31 + n))
            if n > 4 { weight.bytes.storeBytes(of: UInt8(0xFF), toByteOffset: 4 * k + k / 2, as: UInt8.self) }   // row 4: NaN
            checkRowsOfABatchEqualEachRowAlone(weight, nanRow: n > 4 ? 4 : nil)
        }
        guard KernelVariants.available.contains(where: { $0.isa == .avx512 }) else { return }
        for (k, n) in [(48, 5), (300, 40)] {
            let weight = StoredWeight(.fp8, rows: n, cols: k, seed: UInt64(k + n), block: 16)
            checkRowsOfABatchEqualEachRowAlone(weight.matrix, label: "fp8 16-column blocks", nanRow: nil, tables: [.avx512])
        }
    }

    /// Each kernel variant over bf16, f16 and f32 with 1–8 x rows: each row's outputs are the bits it
    /// gets alone (one accumulator per weight row and x row, the same FMAs in the same order,
    /// whatever the blocking).
    func testHalfAndF32RowsOfABatchEqualEachRowAlone() {
        for (k, n) in [(7, 3), (300, 9), (2048, 66)] {
            for dtype in [StoredWeight.DType.bf16, .f16] {
                checkRowsOfABatchEqualEachRowAlone(StoredWeight(dtype, rows: n, cols: k, seed: UInt64(k + n)), nanRow: nil)
            }
            let ldw = k + 1   // a row stride past the row
            random(n * ldw, seed: UInt64(k * n)).withUnsafeBufferPointer { w in
                checkRowsOfABatchEqualEachRowAlone(WeightMatrix(f32: w.baseAddress!, rows: n, cols: k, rowStride: ldw),
                                                   label: "f32", nanRow: nil)
            }
        }
    }

    /// Σ term(i) and Σ |term(i)| over i < k in Double: a dot the kernels must match to f32 rounding
    /// (bound: a small multiple of ε times the magnitude).
    private func referenceDot(_ k: Int, _ term: (Int) -> Double) -> (dot: Double, magnitude: Double) {
        var dot = 0.0, magnitude = 0.0
        for i in 0..<k {
            let t = term(i)
            dot += t; magnitude += abs(t)
        }
        return (dot, magnitude)
    }

    /// m = 2…8 x rows in one call give each row the bits of a call with that row alone, in each
    /// variant of `tables`, for both store modes and rows split by `first`; a NaN row stays NaN for
    /// every x row.
    private func checkRowsOfABatchEqualEachRowAlone(_ weight: StoredWeight, nanRow: Int?) {
        for matrix in weight.views {
            checkRowsOfABatchEqualEachRowAlone(matrix, label: "\(weight.dtype) nan-free \(matrix.freeOfNaNCodes)", nanRow: nanRow)
        }
    }

    private func checkRowsOfABatchEqualEachRowAlone(_ matrix: WeightMatrix, label: String, nanRow: Int?,
                                                    tables: [KernelTable] = KernelVariants.available) {
        for table in tables { checkRowsOfABatchEqualEachRowAlone(matrix, label: "\(table.isa) \(label)", nanRow: nanRow, table: table) }
    }

    private func checkRowsOfABatchEqualEachRowAlone(_ matrix: WeightMatrix, label: String, nanRow: Int?, table: KernelTable) {
        let k = matrix.cols, n = matrix.rows, lda = k + 3, ldy = n + 1
        let x = random(8 * lda, seed: UInt64(k + n)), start = random(8 * ldy, seed: 7)
        var view = matrix.kernelView
        for accumulate in [false, true] {
            let first = n > 2 ? 1 : 0, alpha: Float = accumulate ? 0.5 : 1
            var alone = [[Float]]()
            for r in 0..<8 {
                var y = Array(start[(r * ldy)...].prefix(ldy))
                Array(x[(r * lda)...].prefix(lda)).withUnsafeBufferPointer { row in
                    table.skinnyWeight(row.baseAddress!, 1, lda, &view, &y, ldy, first, n, accumulate ? 1 : 0, alpha)
                }
                alone.append(y)
            }
            for m in 2...8 {
                var batch = Array(start.prefix(m * ldy))
                table.skinnyWeight(x, m, lda, &view, &batch, ldy, first, n, accumulate ? 1 : 0, alpha)
                for r in 0..<m {
                    XCTAssertEqual(batch[(r * ldy)...].prefix(ldy).map(\.bitPattern), alone[r].map(\.bitPattern),
                                   "\(label) k=\(k) n=\(n) m=\(m) x row \(r) accumulate=\(accumulate)")
                    if let nanRow { XCTAssertTrue(batch[r * ldy + nanRow].isNaN, "\(label) k=\(k) n=\(n) m=\(m) x row \(r): the NaN row") }
                }
            }
        }
    }

    /// More than one block of 8 rows (m = 9…19) through runOnThisThread and the threaded run: the
    /// same bits (each output is one row's dot, however the rows are split), and close to the f32
    /// kernel on the decoded weights.
    func testSkinnyRunsAboveOneBlock() {
        let k = 300, n = 150
        for dtype in StoredWeight.DType.allCases {
            let weight = StoredWeight(dtype, rows: n, cols: k, seed: 31)
            for m in 9...19 {
                let x = random(m * k, seed: UInt64(m))
                var threaded = [Float](repeating: 0, count: m * n), single = threaded, f32 = threaded
                SkinnyLinear.run(x, rows: m, weight: weight.matrix, into: &threaded)
                SkinnyLinear.runOnThisThread(x, rows: m, weight: weight.matrix, into: &single)
                SkinnyLinear.run(x, rows: m, inFeatures: k, lda: k, weight: weight.decoded, outFeatures: n, ldw: k, into: &f32, ldy: n,
                                 accumulate: false, alpha: 1)
                XCTAssertEqual(threaded.map(\.bitPattern), single.map(\.bitPattern), "\(dtype) m=\(m)")
                XCTAssertTrue(Closeness(single, f32).within(absTol: 1e-5, relTol: 1e-5), "\(dtype) m=\(m): \(Closeness(single, f32))")
            }
        }
    }

    /// A weight of 4 MiB or more on 2 and 3 workers: slices plus tail pieces taken in any order give
    /// the bits of one thread (each output is one row's dot), in every dtype and for the f32 kernel,
    /// with a partial last piece and accumulate — and with 20 x rows, which the threaded run takes in
    /// blocks of 8 over groups of weight rows (64–256 rows here) and the single thread block by block
    /// over the whole weight.
    func testTailPiecesEqualOneThread() {
        let saved = BLAS.threads
        defer { BLAS.setThreads(saved) }
        let k = 1024, n = 4100                                                   // FP8 4.2 MB; n % 128 = 4
        for workers in [2, 3] {
            let split = SkinnyLinear.split(rows: n, workers: workers, bytes: n * k)
            XCTAssertEqual(split.tailPiece, SkinnyLinear.tailPieceRows, "\(workers) workers: tail pieces")
            XCTAssertLessThan(workers * split.sliceRows, n - SkinnyLinear.tailPieceRows)
        }
        XCTAssertEqual(SkinnyLinear.split(rows: n, workers: 2, bytes: (4 << 20) - 1).tailPiece, 0, "under 4 MiB: halves")
        for dtype in StoredWeight.DType.allCases {
            let weight = StoredWeight(dtype, rows: n, cols: k, seed: 5)
            for m in [1, 3, 20] {
                let x = random(m * k, seed: UInt64(m))
                let start = random(m * n, seed: 9)
                for accumulate in [false, true] {
                    var single = start, singleF32 = start
                    SkinnyLinear.runOnThisThread(x, rows: m, weight: weight.matrix, into: &single, accumulate: accumulate)
                    SkinnyLinear.runOnThisThread(x, rows: m, inFeatures: k, lda: k, weight: weight.decoded, outFeatures: n, ldw: k,
                                                 into: &singleF32, ldy: n, accumulate: accumulate)
                    for workers in [2, 3] {
                        BLAS.setThreads(workers)
                        var threaded = start, threadedF32 = start
                        SkinnyLinear.run(x, rows: m, weight: weight.matrix, into: &threaded, accumulate: accumulate)
                        SkinnyLinear.run(x, rows: m, inFeatures: k, lda: k, weight: weight.decoded, outFeatures: n, ldw: k,
                                         into: &threadedF32, ldy: n, accumulate: accumulate, alpha: 1)
                        XCTAssertEqual(threaded.map(\.bitPattern), single.map(\.bitPattern), "\(dtype) m=\(m) workers \(workers)")
                        XCTAssertEqual(threadedF32.map(\.bitPattern), singleF32.map(\.bitPattern), "f32 m=\(m) workers \(workers)")
                    }
                }
            }
        }
    }

    /// Panel sizes: the 12 MiB budget, at least `minPanelRows`, evened out in multiples of 32.
    func testPanelRows() {
        XCTAssertEqual(BLAS.panelRows(k: 2048, n: 11264), 1408)   // 8 panels under the budget (1536 rows)
        XCTAssertEqual(BLAS.panelRows(k: 2048, n: 2048), 1024)    // 1536 + 512 evened out
        XCTAssertEqual(BLAS.panelRows(k: 5632, n: 2048), 1024)    // 558 fit the budget: the minimum rows
        XCTAssertEqual(BLAS.panelRows(k: 10944, n: 2048), 1024)
        XCTAssertEqual(BLAS.panelRows(k: 2048, n: 1000), 1000)    // one panel, the whole weight
        XCTAssertEqual(BLAS.panelRows(k: 300, n: 600, floats: 256 * 300, minRows: 16), 224)
    }

    /// BLAS.linear on a WeightMatrix: f32 storage is bit-identical to the pointer form (skinny and
    /// sgemm); stored dtypes above the skinny limit (M > 32, N spanning 3 panels) equal sgemm on
    /// the upcast weight within 1e-6 relative, with alpha and accumulate, on both GEMM backends.
    func testLinearPanelsMatchUpcastWeight() {
        let k = 300, panelFloats = 256 * k, minPanelRows = 16, n = 2 * 256 + 88   // panels of 224, 224, 152 rows
        let f32Weight = random(n * k, seed: 12)
        for m in [5, 40] {
            let x = random(m * k, seed: 13)
            var a = [Float](repeating: 0, count: m * n), b = a
            f32Weight.withUnsafeBufferPointer { w in
                BLAS.linear(x, rows: m, weight: WeightMatrix(f32: w.baseAddress!, rows: n, cols: k), into: &a)
                BLAS.linear(x, rows: m, inFeatures: k, weight: w.baseAddress!, outFeatures: n, into: &b)
            }
            XCTAssertEqual(a.map(\.bitPattern), b.map(\.bitPattern), "f32 m=\(m)")
        }
        for dtype in StoredWeight.DType.allCases {
            let weight = StoredWeight(dtype, rows: n, cols: k, rowStride: k + 4, seed: 14)
            for m in [33, 40, 70] {
                let x = random(m * (k + 2), seed: UInt64(m))
                let start = random(m * n, seed: 15)
                for accumulate in [false, true] {
                    for backend in GEMMBackend.allCases {   // OpenBLAS: panels, then threaded sgemm; oneDNN: one fan-out
                        var y = start, reference = start    // against the same library's sgemm on the upcast weight
                        BLAS.gemm(transB: true, m: m, n: n, k: k, alpha: 0.5, a: x, lda: k + 2, b: weight.decoded, ldb: k,
                                  beta: accumulate ? 1 : 0, c: &reference, ldc: n, backend: backend)
                        BLAS.linear(x, rows: m, lda: k + 2, weight: weight.matrix, into: &y, accumulate: accumulate, alpha: 0.5,
                                    panelFloats: panelFloats, minPanelRows: minPanelRows, backend: backend)
                        let c = Closeness(y, reference)
                        XCTAssertTrue(c.within(absTol: 0, relTol: 1e-6), "\(dtype) m=\(m) accumulate=\(accumulate) \(backend): \(c)")
                    }
                }
            }
        }
    }

    /// convertToF32 (threaded) equals the decoded matrix, with a destination stride.
    func testConvertToF32() {
        for dtype in StoredWeight.DType.allCases {
            let weight = StoredWeight(dtype, rows: 300, cols: 130, rowStride: 133, seed: 8)
            var out = [Float](repeating: .nan, count: 300 * 131)
            weight.matrix.convertToF32(into: &out, ldo: 131)
            for r in 0..<300 {
                XCTAssertEqual(out[r * 131..<r * 131 + 130].map(\.bitPattern), weight.decoded[r * 130..<(r + 1) * 130].map(\.bitPattern), "\(dtype) row \(r)")
                XCTAssertTrue(out[r * 131 + 130].isNaN, "stride gap untouched")
            }
        }
    }

    /// Row and column views read the same elements as the whole matrix (FP8 with the scales of
    /// their own blocks), and an FP8 view off its scale grid is refused.
    func testRowAndColumnViewsDecodeTheirPart() {
        for dtype in StoredWeight.DType.allCases {
            let weight = StoredWeight(dtype, rows: 100, cols: 70, rowStride: 75, seed: 9, block: 16)
            for (rows, columns) in [(32..<100, 0..<70), (0..<100, 16..<70), (48..<64, 32..<35)] {
                let view = weight.matrix.rows(rows)!.columns(columns)!
                var out = [Float](repeating: .nan, count: rows.count * columns.count)
                view.convertRows(0..<rows.count, into: &out)
                for (i, r) in rows.enumerated() {
                    let expected = weight.decoded[r * 70 + columns.lowerBound..<r * 70 + columns.upperBound]
                    XCTAssertEqual(out[i * columns.count..<(i + 1) * columns.count].map(\.bitPattern), expected.map(\.bitPattern),
                                   "\(dtype) rows \(rows) columns \(columns): row \(r)")
                }
            }
            XCTAssertEqual(weight.matrix.rows(8..<20) == nil, dtype == .fp8, "\(dtype): rows off the scale grid")
            XCTAssertEqual(weight.matrix.columns(8..<20) == nil, dtype == .fp8, "\(dtype): columns off the scale grid")
        }
    }

    /// The panel buffers a stored-dtype prefill grows on each worker thread are freed by
    /// releasePanels on every one of them, on both sgemm backends' paths.
    func testPanelBuffersAreReleasedOnEveryWorker() {
        let weight = StoredWeight(.bf16, rows: 256, cols: 64, seed: 10)
        let x = [Float](repeating: 0.5, count: 64 * 64)
        var y = [Float](repeating: 0, count: 64 * 256)
        for backend in [GEMMBackend.onednn, .openblas] {
            BLAS.releasePanels()
            let released = BLAS.panelFloatsHeld
            XCTAssertLessThanOrEqual(released, 16 * BLAS.threads, "\(backend): released buffers keep their minimum")
            BLAS.linear(x, rows: 64, weight: weight.matrix, into: &y, backend: backend)
            XCTAssertGreaterThanOrEqual(BLAS.panelFloatsHeld, 256 * 64, "\(backend): the whole weight was converted into the panels")
            BLAS.releasePanels()
            XCTAssertEqual(BLAS.panelFloatsHeld, released, "\(backend)")
        }
    }
}
