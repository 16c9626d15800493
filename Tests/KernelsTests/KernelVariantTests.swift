import Foundation
@testable import Kernels
import Tensors
import XCTest

/// The kernel variants this CPU can run (AVX2 always, AVX-512 where present).
enum KernelVariants {
    static var available: [KernelTable] {
        InstructionSet.allCases.filter { CPUFeatures.detected.isSuperset(of: $0.required) }.compactMap(KernelTable.table(for:))
    }
}

/// The AVX-512 kernels against the AVX2 ones and against Double references, over ragged shapes.
final class KernelVariantTests: XCTestCase {
    func random(_ n: Int, seed: UInt64, range: ClosedRange<Float> = -1...1) -> [Float] {
        var g = SeededRandom(seed: seed)
        return (0..<n).map { _ in Float.random(in: range, using: &g) }
    }

    func avx512() throws -> KernelTable {
        guard CPUFeatures.detected.isSuperset(of: .avx512) else { throw XCTSkip("this CPU has no AVX-512 (\(CPUFeatures.detected))") }
        return KernelTable.avx512
    }

    /// y = alpha · x · Wᵀ (+ y) for 1...8 rows (one block), k around every vector width and the
    /// 4-accumulator unroll, odd n (an unpaired last weight row), and sub-ranges of the weight rows.
    func testSkinnyLinearVariantsAgreeWithEachOtherAndReference() throws {
        let wide = try avx512()
        var cases = 0
        for k in [1, 7, 8, 9, 15, 16, 17, 31, 33, 63, 64, 65, 100, 257, 1037] {
            for n in [1, 2, 5, 66] {
                let lda = k + 3, ldw = k + 5, ldy = n + 2
                let w = random(n * ldw, seed: UInt64(k * 1000 + n))
                for m in 1...SkinnyLinear.maxRows {
                    let x = random(m * lda, seed: UInt64(k * 7 + m))
                    let start = random(m * ldy, seed: UInt64(m))
                    let first = n > 2 ? 1 : 0                       // a slice not starting at row 0, as a worker's
                    for accumulate in [false, true] {
                        var outputs: [[Float]] = []
                        for table in [KernelTable.avx2, wide] {
                            var y = start
                            table.skinnyLinear(x, m, k, lda, w, ldw, &y, ldy, first, n, accumulate ? 1 : 0, 0.75)
                            outputs.append(y)
                        }
                        var worst = 0.0
                        for r in 0..<m {
                            for j in 0..<ldy {
                                let index = r * ldy + j
                                guard j >= first && j < n else {
                                    XCTAssertEqual(outputs[0][index], start[index]); XCTAssertEqual(outputs[1][index], start[index])
                                    continue
                                }
                                var dot = 0.0, magnitude = 0.0
                                for i in 0..<k {
                                    dot += Double(x[r * lda + i]) * Double(w[j * ldw + i])
                                    magnitude += abs(Double(x[r * lda + i]) * Double(w[j * ldw + i]))
                                }
                                let want = 0.75 * dot + (accumulate ? Double(start[index]) : 0)
                                let bound = 1e-6 * (magnitude + 1)       // ~8 ulps of the sum of |terms|
                                worst = max(worst, abs(Double(outputs[1][index]) - want) / bound)
                                XCTAssertLessThan(abs(Double(outputs[0][index]) - want), bound, "avx2 k=\(k) n=\(n) m=\(m) r=\(r) j=\(j)")
                                XCTAssertLessThan(abs(Double(outputs[1][index]) - Double(outputs[0][index])), bound,
                                                  "avx512 vs avx2 k=\(k) n=\(n) m=\(m) r=\(r) j=\(j)")
                            }
                        }
                        XCTAssertLessThan(worst, 1, "avx512 k=\(k) n=\(n) m=\(m) accumulate=\(accumulate)")
                        cases += 1
                    }
                }
            }
        }
        XCTAssertEqual(cases, 15 * 4 * 8 * 2)
    }

    /// The runOnThisThread blocking (rows in blocks of 8) with each variant: 1...19 rows.
    func testSkinnyOnThisThreadVariantsAgreeAboveOneBlock() throws {
        let wide = try avx512()
        let k = 129, n = 11, w = random(n * k, seed: 5)
        for m in [1, 3, 8, 9, 16, 19] {
            let x = random(m * k, seed: UInt64(40 + m))
            var y = [[Float]](repeating: [Float](repeating: 0, count: m * n), count: 2)
            for (v, table) in [KernelTable.avx2, wide].enumerated() {
                SkinnyLinear.runOnThisThread(x, rows: m, inFeatures: k, lda: k, weight: w, outFeatures: n, ldw: k, into: &y[v], ldy: n,
                                             accumulate: false, alpha: 1, kernels: table)
            }
            for i in 0..<m * n { XCTAssertEqual(y[1][i], y[0][i], accuracy: 1e-5, "m=\(m) index \(i)") }
        }
    }

    /// Elementwise exp: each element bit-identical across variants (the same operations); the
    /// returned sums agree to rounding. SiLU·up likewise, bit for bit.
    func testExpShiftedAndSiluMulVariantsAgree() throws {
        let wide = try avx512()
        for n in [0, 1, 7, 8, 15, 16, 17, 33, 100, 515] {
            let x = random(n, seed: UInt64(n + 1), range: -40...40)
            let shift = x.max() ?? 0
            var a = x, b = x
            let sumA = KernelTable.avx2.expShifted(&a, n, shift), sumB = wide.expShifted(&b, n, shift)
            XCTAssertEqual(a.map(\.bitPattern), b.map(\.bitPattern), "n=\(n)")
            let reference = x.reduce(0.0) { $0 + Foundation.exp(Double($1 - shift)) }
            XCTAssertEqual(Double(sumA), reference, accuracy: 1e-6 * max(1, reference), "avx2 n=\(n)")
            XCTAssertEqual(Double(sumB), reference, accuracy: 1e-6 * max(1, reference), "avx512 n=\(n)")

            let gate = random(n, seed: UInt64(n + 2), range: -12...12), up = random(n, seed: UInt64(n + 3))
            var outA = [Float](repeating: .nan, count: n + 1), outB = outA
            KernelTable.avx2.siluMul(gate, up, &outA, n)
            wide.siluMul(gate, up, &outB, n)
            XCTAssertEqual(outA.map(\.bitPattern), outB.map(\.bitPattern), "n=\(n)")
            XCTAssertTrue(outB[n].isNaN, "nothing written past n")
            for i in 0..<n {
                let g = Double(gate[i])
                XCTAssertEqual(Double(outB[i]), g / (1 + Foundation.exp(-g)) * Double(up[i]), accuracy: 2e-6 * max(1, abs(g)))
            }
        }
    }
}
