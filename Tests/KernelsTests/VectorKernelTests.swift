import Foundation
@testable import Kernels
import Tensors
import XCTest
import TestSupport

/// The hand-vectorised passes (exp, SiLU, softmax, RMSNorm) and the decode GEMM paths (sgemv at
/// one row, SkinnyLinear at 2...8 rows) against plain Double references.
final class VectorKernelTests: XCTestCase {
    func random(_ n: Int, seed: UInt64, range: ClosedRange<Float> = -1...1) -> [Float] {
        var g = SeededRandom(seed: seed)
        return (0..<n).map { _ in Float.random(in: range, using: &g) }
    }

    /// Every variant this CPU runs (and the scalar exp the loop tails use).
    func testExpRelativeErrorBelowTwoUlpsOverTheFloatRange() throws {
        var xs: [Float] = []
        var x: Float = -87
        while x < 88 { xs.append(x); x += 0.00731 }
        xs += [0, -0.0, 1e-8, -1e-8, 88.5, -87.2]
        for table in KernelVariants.available {
            var e = xs
            _ = table.expShifted(&e, e.count, 0)
            var got: [Float] = [], want: [Double] = []
            for (i, v) in e.enumerated() {
                if xs[i] < 88 { got.append(v); want.append(Foundation.exp(Double(xs[i]))) }   // the documented range
                XCTAssertEqual(v.bitPattern, VectorMath.exp(xs[i]).bitPattern, "\(table.isa) element \(i) equals the scalar exp")
            }
            assertClose(got, want, relTol: 2.4e-7, elementwise: true, "\(table.isa) exp over [-87, 88]")
            // Far below the range: tiny and finite, never NaN (a masked score is −inf).
            var low = [Float](repeating: -.infinity, count: 17)
            _ = table.expShifted(&low, low.count, 0)
            XCTAssertTrue(low.allSatisfy { $0 >= 0 && $0 < 1e-37 }, "\(table.isa)")
        }
        XCTAssertEqual(Double(VectorMath.exp(Float(0.5))), Foundation.exp(0.5), accuracy: 1e-7)
    }

    func testSiluMulSoftmaxAndRMSNormMatchReferences() {
        let rows = 3, inter = 21                                            // 21: a tail past the 8-wide loop
        let gateUp = random(rows * 2 * inter, seed: 1, range: -12...12)
        var out = [Float](repeating: .nan, count: rows * inter)
        Elementwise.siluMul(gateUp: gateUp, rows: rows, inter: inter, into: &out)
        for r in 0..<rows {
            for i in 0..<inter {
                let g = Double(gateUp[r * 2 * inter + i]), u = Double(gateUp[r * 2 * inter + inter + i])
                XCTAssertEqual(Double(out[r * inter + i]), g / (1 + Foundation.exp(-g)) * u, accuracy: 2e-6 * max(1, abs(g * u)))
            }
        }

        var x = random(2 * 19, seed: 2, range: -30...30)
        let original = x
        Elementwise.softmaxRows(&x, rows: 2, cols: 19)
        let softmax = (0..<2).flatMap { r -> [Double] in
            let row = original[r * 19..<(r + 1) * 19].map(Double.init)
            let mx = row.max()!, sum = row.map { Foundation.exp($0 - mx) }.reduce(0, +)
            return row.map { Foundation.exp($0 - mx) / sum }
        }
        assertClose(x, softmax, absTol: 1e-6, "softmax rows")

        let dim = 37
        let v = random(2 * dim, seed: 3), w = random(dim, seed: 4)
        var y = [Float](repeating: .nan, count: 2 * dim)
        Elementwise.rmsNorm(v, rows: 2, dim: dim, weight: w, eps: 1e-6, into: &y)
        let normed = (0..<2).flatMap { r -> [Double] in
            let ms = v[r * dim..<(r + 1) * dim].map { Double($0) * Double($0) }.reduce(0, +) / Double(dim)
            return (0..<dim).map { i in Double(w[i]) * Double(v[r * dim + i]) / (ms + 1e-6).squareRoot() }
        }
        assertClose(y, normed, absTol: 1e-6, "RMSNorm rows")
    }

    /// Prefill-sized passes are split over the workers by rows: the same bits as one row at a time
    /// (which stays on the calling thread), in place too.
    func testManyRowPassesEqualRowByRow() {
        let saved = BLAS.threads
        defer { BLAS.setThreads(saved) }
        BLAS.setThreads(2)
        let rows = 301, dim = 2048, inter = 1000                            // 301 · 2048 > 2¹⁸ floats
        let x = random(rows * dim, seed: 5), w = random(dim, seed: 6)
        var split = [Float](repeating: .nan, count: rows * dim), single = split
        Elementwise.rmsNorm(x, rows: rows, dim: dim, weight: w, eps: 1e-6, into: &split)
        for r in 0..<rows {
            x.withUnsafeBufferPointer { xp in single.withUnsafeMutableBufferPointer { yp in
                Elementwise.rmsNorm(xp.baseAddress! + r * dim, rows: 1, dim: dim, weight: w, eps: 1e-6, into: yp.baseAddress! + r * dim)
            } }
        }
        XCTAssertEqual(split.map(\.bitPattern), single.map(\.bitPattern), "RMSNorm over \(rows) rows")
        var inPlace = x
        inPlace.withUnsafeMutableBufferPointer { p in
            Elementwise.rmsNorm(p.baseAddress!, rows: rows, dim: dim, weight: w, eps: 1e-6, into: p.baseAddress!)
        }
        XCTAssertEqual(inPlace.map(\.bitPattern), single.map(\.bitPattern), "RMSNorm in place")

        let gateUp = random(rows * 2 * inter, seed: 7, range: -12...12)
        var act = [Float](repeating: .nan, count: rows * inter), actSingle = act
        Elementwise.siluMul(gateUp: gateUp, rows: rows, inter: inter, into: &act)
        for r in 0..<rows {
            gateUp.withUnsafeBufferPointer { g in actSingle.withUnsafeMutableBufferPointer { o in
                Elementwise.siluMul(gateUp: g.baseAddress! + r * 2 * inter, rows: 1, inter: inter, into: o.baseAddress! + r * inter)
            } }
        }
        XCTAssertEqual(act.map(\.bitPattern), actSingle.map(\.bitPattern), "SiLU · up over \(rows) rows")
    }

    /// y = alpha · x · Wᵀ (+ y) with strides, for every row count of the decode paths (SkinnyLinear
    /// alone, in 8-row blocks up to BLAS.skinnyRowLimit, sgemm past it), on 1 and 2 threads.
    func testLinearAtDecodeRowCountsMatchesReference() {
        let saved = BLAS.threads
        defer { BLAS.setThreads(saved) }
        for threads in [1, 2] {
            BLAS.setThreads(threads)
            // Odd sizes: every tail and the unpaired last row.
            assertLinearMatchesReference(k: 1037, n: 515, rowCounts: Array(1...SkinnyLinear.maxRows) + [9, 19, BLAS.skinnyRowLimit, BLAS.skinnyRowLimit + 1],
                                         alpha: 0.5, tolerance: 2e-4, seeds: (7, 10, 99), label: "threads=\(threads)") { x, m, k, lda, w, n, ldw, y, ldy, accumulate, alpha in
                BLAS.linear(x, rows: m, inFeatures: k, lda: lda, weight: w, outFeatures: n, ldw: ldw, into: y, ldy: ldy,
                            accumulate: accumulate, alpha: alpha)
            }
        }
    }

    /// The single-thread entry the decode attention stages use, including row counts above the
    /// 8-row block (the daemon batches up to 32 sequences) and odd strides.
    func testSkinnyOnThisThreadAtAnyRowCountMatchesReference() {
        assertLinearMatchesReference(k: 133, n: 67, rowCounts: [1, 5, 8, 11, 19], alpha: 0.25, tolerance: 1e-4, seeds: (21, 30, 77),
                                     label: "on this thread") { x, m, k, lda, w, n, ldw, y, ldy, accumulate, alpha in
            SkinnyLinear.runOnThisThread(x, rows: m, inFeatures: k, lda: lda, weight: w, outFeatures: n, ldw: ldw, into: y, ldy: ldy,
                                         accumulate: accumulate, alpha: alpha)
        }
    }

    typealias LinearUnderTest = (UnsafePointer<Float>, Int, Int, Int, UnsafePointer<Float>, Int, Int,
                                 UnsafeMutablePointer<Float>, Int, Bool, Float) -> Void

    /// Runs `product` (x, m, k, lda, w, n, ldw, y, ldy, accumulate, alpha) with padded strides for
    /// each row count, with and without accumulation, against a Double reference; the padding
    /// between output rows must stay untouched.
    func assertLinearMatchesReference(k: Int, n: Int, rowCounts: [Int], alpha: Float, tolerance: Double,
                                      seeds: (weight: UInt64, x: UInt64, start: UInt64), label: String,
                                      _ product: LinearUnderTest) {
        let lda = k + 3, ldw = k + 5, ldy = n + 2
        let w = random(n * ldw, seed: seeds.weight)
        for m in rowCounts {
            let x = random(m * lda, seed: seeds.x + UInt64(m))
            for accumulate in [false, true] {
                let start = random(m * ldy, seed: seeds.start)
                var y = start
                y.withUnsafeMutableBufferPointer { product(x, m, k, lda, w, n, ldw, $0.baseAddress!, ldy, accumulate, alpha) }
                var got: [Float] = [], want: [Double] = []
                for r in 0..<m {
                    for j in 0..<n {
                        var dot = 0.0
                        for i in 0..<k { dot += Double(x[r * lda + i]) * Double(w[j * ldw + i]) }
                        got.append(y[r * ldy + j])
                        want.append(Double(alpha) * dot + (accumulate ? Double(start[r * ldy + j]) : 0))
                    }
                    for j in n..<ldy { XCTAssertEqual(y[r * ldy + j], start[r * ldy + j], "padding between rows untouched") }
                }
                assertClose(got, want, absTol: tolerance, "m=\(m) \(label) accumulate=\(accumulate)")
            }
        }
    }

    /// sgemm on each backend, for every transpose, with strides wider than the matrices, alpha and
    /// beta, at sizes that stay on one thread and sizes split over the workers by columns and by
    /// rows (shares of 16 that do not divide the extent): against a Double reference, and the two
    /// backends against each other.
    func testGemmBackendsMatchReference() {
        let saved = BLAS.threads
        BLAS.setThreads(2)
        defer { BLAS.setThreads(saved) }
        for (m, n, k) in [(37, 45, 19), (300, 517, 96), (611, 90, 130)] {
            for transA in [false, true] {
                for transB in [false, true] {
                    let lda = (transA ? m : k) + 3, ldb = (transB ? k : n) + 5, ldc = n + 2
                    let a = random((transA ? k : m) * lda, seed: 31), b = random((transB ? n : k) * ldb, seed: 32)
                    let c0 = random(m * ldc, seed: 33)
                    var want = [Double](repeating: 0, count: m * n)
                    for r in 0..<m {
                        for j in 0..<n {
                            var dot = 0.0
                            for i in 0..<k {
                                dot += Double(transA ? a[i * lda + r] : a[r * lda + i]) * Double(transB ? b[j * ldb + i] : b[i * ldb + j])
                            }
                            want[r * n + j] = 1.5 * dot + 0.25 * Double(c0[r * ldc + j])
                        }
                    }
                    var results: [[Float]] = []
                    for backend in GEMMBackend.allCases {
                        var c = c0
                        BLAS.gemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: 1.5, a: a, lda: lda, b: b, ldb: ldb,
                                  beta: 0.25, c: &c, ldc: ldc, backend: backend)
                        let label = "\(backend) \(m)×\(n)×\(k) transA=\(transA) transB=\(transB)"
                        for r in 0..<m {
                            for j in n..<ldc { XCTAssertEqual(c[r * ldc + j], c0[r * ldc + j], "\(label): padding untouched") }
                        }
                        let got = (0..<m).flatMap { r in c[r * ldc..<r * ldc + n] }
                        assertClose(got, want, absTol: 1e-3, label)
                        results.append(got)
                    }
                    assertClose(results[0], results[1].map(Double.init), absTol: 1e-3, "backends agree")
                }
            }
        }
    }

    /// The one-row gemm (sgemv) for every transpose combination, with beta.
    func testOneRowGemmMatchesReferenceForEveryTranspose() {
        let k = 13, n = 9
        for transA in [false, true] {
            for transB in [false, true] {
                let lda = transA ? 4 : k + 2                                   // A is [1, k] or [k, 1]
                let ldb = transB ? k + 1 : n + 3                               // B is [n, k] or [k, n]
                let a = random(transA ? k * lda : lda, seed: 21)
                let b = random((transB ? n : k) * ldb, seed: 22)
                let c0 = random(n, seed: 23)
                var c = c0
                BLAS.gemm(transA: transA, transB: transB, m: 1, n: n, k: k, alpha: 2, a: a, lda: lda, b: b, ldb: ldb,
                          beta: 0.5, c: &c, ldc: n)
                for j in 0..<n {
                    var dot: Float = 0
                    for i in 0..<k {
                        let av = transA ? a[i * lda] : a[i]
                        let bv = transB ? b[j * ldb + i] : b[i * ldb + j]
                        dot += av * bv
                    }
                    XCTAssertEqual(c[j], 2 * dot + 0.5 * c0[j], accuracy: 1e-5, "transA=\(transA) transB=\(transB)")
                }
            }
        }
    }
}
