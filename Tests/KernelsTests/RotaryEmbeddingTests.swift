import Foundation
@testable import Kernels
import XCTest

final class RotaryEmbeddingTests: XCTestCase {
    func testInterleavedRotationMatchesPairRotation() {
        let rope = RotaryEmbedding.standard(dim: 8, base: 10000, interleaved: true)
        var x: [Float] = (0..<8).map { Float($0) * 0.5 - 1 }
        let original = x
        var cos = [Float](repeating: 0, count: 4), sin = [Float](repeating: 0, count: 4)
        rope.tables(positions: [Int32(7)], rows: 1, cos: &cos, sin: &sin)
        rope.apply(&x, rows: 1, heads: 1, rowStride: 8, headStride: 8, cos: cos, sin: sin)
        for i in 0..<4 {
            let angle = Double(7) * pow(10000, -Double(2 * i) / 8)
            let a = Double(original[2 * i]), b = Double(original[2 * i + 1])
            XCTAssertEqual(Double(x[i]), a * Foundation.cos(angle) - b * Foundation.sin(angle), accuracy: 1e-5)
            XCTAssertEqual(Double(x[i + 4]), b * Foundation.cos(angle) + a * Foundation.sin(angle), accuracy: 1e-5)
        }
    }

    func testDotProductDependsOnlyOnRelativePosition() {
        let rope = RotaryEmbedding.yarn(dim: 16, base: 10000, factor: 4, originalMaxPositions: 64, betaFast: 32, betaSlow: 1,
                                        attentionFactor: 1, truncate: true, interleaved: true)
        let q0: [Float] = (0..<16).map { sinf(Float($0)) }, k0: [Float] = (0..<16).map { cosf(Float($0) * 0.7) }
        func dot(_ pq: Int32, _ pk: Int32) -> Float {
            var q = q0, k = k0
            var c = [Float](repeating: 0, count: 8), s = [Float](repeating: 0, count: 8)
            rope.tables(positions: [pq], rows: 1, cos: &c, sin: &s)
            rope.apply(&q, rows: 1, heads: 1, rowStride: 16, headStride: 16, cos: c, sin: s)
            rope.tables(positions: [pk], rows: 1, cos: &c, sin: &s)
            rope.apply(&k, rows: 1, heads: 1, rowStride: 16, headStride: 16, cos: c, sin: s)
            return zip(q, k).reduce(0) { $0 + $1.0 * $1.1 }
        }
        XCTAssertEqual(dot(10, 3), dot(107, 100), accuracy: 1e-3)
    }

    func testYarnFrequenciesBlendBetweenInterpolationAndExtrapolation() {
        let plain = RotaryEmbedding.standard(dim: 16, base: 10000, interleaved: true)
        let yarn = RotaryEmbedding.yarn(dim: 16, base: 10000, factor: 4, originalMaxPositions: 64, betaFast: 32, betaSlow: 1,
                                        attentionFactor: 1, truncate: true, interleaved: true)
        // Highest frequency: extrapolated (unchanged); lowest: interpolated (divided by factor).
        XCTAssertEqual(yarn.invFreq[0], plain.invFreq[0], accuracy: 1e-7)
        XCTAssertEqual(yarn.invFreq[7], plain.invFreq[7] / 4, accuracy: 1e-9)
        XCTAssertEqual(RotaryEmbedding.yarnMscale(40, 1), 0.1 * log(40) + 1, accuracy: 1e-12)
        XCTAssertEqual(RotaryEmbedding.yarnMscale(1, 1), 1)
    }
}
