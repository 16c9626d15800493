import Foundation
@testable import Kernels
import Tensors
import XCTest
import TestSupport

/// The tiled online-softmax kernel against a plain, untiled softmax(QKᵀ)V written out longhand.
final class CausalAttentionTests: XCTestCase {
    struct Problem {
        let heads = 3, nope = 8, rope = 4, vDim = 6
        var keys: Int, queries: Int, firstPosition: Int, keyLimit: Int
        var q: [Float], kv: [Float], kPe: [Float]
        init(keys: Int, queries: Int, firstPosition: Int, keyLimit: Int, seed: UInt64) {
            self.keys = keys; self.queries = queries; self.firstPosition = firstPosition; self.keyLimit = keyLimit
            var g = SeededRandom(seed: seed)
            func r(_ n: Int) -> [Float] { (0..<n).map { _ in Float.random(in: -1...1, using: &g) } }
            q = r(queries * heads * (nope + rope))
            kv = r(keys * heads * (nope + vDim))
            kPe = r(keys * rope)
        }

        func reference(scale: Float) -> [Float] {
            var out = [Float](repeating: 0, count: queries * heads * vDim)
            for h in 0..<heads {
                for j in 0..<queries {
                    let visible = min(firstPosition + j + 1, keyLimit)
                    var s = [Double](repeating: 0, count: visible)
                    for k in 0..<visible {
                        var dot: Double = 0
                        for d in 0..<nope { dot += Double(q[(j * heads + h) * (nope + rope) + d]) * Double(kv[(k * heads + h) * (nope + vDim) + d]) }
                        for d in 0..<rope { dot += Double(q[(j * heads + h) * (nope + rope) + nope + d]) * Double(kPe[k * rope + d]) }
                        s[k] = dot * Double(scale)
                    }
                    let mx = s.max() ?? 0
                    let e = s.map { exp($0 - mx) }
                    let sum = e.reduce(0, +)
                    for d in 0..<vDim {
                        var acc: Double = 0
                        for k in 0..<visible { acc += e[k] / sum * Double(kv[(k * heads + h) * (nope + vDim) + nope + d]) }
                        out[(j * heads + h) * vDim + d] = Float(acc)
                    }
                }
            }
            return out
        }

        func tiled(queryTile: Int, keyTile: Int, keyChunk: Int = 4096, scale: Float) -> [Float] {
            var out = [Float](repeating: .nan, count: queries * heads * vDim)
            let kernel = CausalAttention(queryTile: queryTile, keyTile: keyTile, keyChunk: keyChunk)
            q.withUnsafeBufferPointer { qp in kv.withUnsafeBufferPointer { kvp in kPe.withUnsafeBufferPointer { kpp in
                out.withUnsafeMutableBufferPointer { op in
                    let o = AttentionOperands(heads: heads, nopeDim: nope, ropeDim: rope, valueDim: vDim,
                                              q: qp.baseAddress!, qRowStride: heads * (nope + rope), qHeadStride: nope + rope,
                                              kv: kvp.baseAddress!, kvRowStride: heads * (nope + vDim), kvHeadStride: nope + vDim, valueOffset: nope,
                                              kPe: kpp.baseAddress!, kPeRowStride: rope, keyRows: keys, out: op.baseAddress!, outRowStride: heads * vDim)
                    kernel.run(o, queries: queries, firstPosition: firstPosition, keyLimit: keyLimit, scale: scale)
                }
            } } }
            return out
        }
    }

    func testTiledMatchesUntiledForEveryTiling() {
        // A full causal prompt, a PCP-style middle chunk, and a chunk with pad rows past keyLimit.
        let cases: [(keys: Int, queries: Int, first: Int, limit: Int)] = [(37, 37, 0, 37), (50, 10, 20, 50), (23, 12, 15, 23), (1, 1, 0, 1)]
        for (n, c) in cases.enumerated() {
            let p = Problem(keys: c.keys, queries: c.queries, firstPosition: c.first, keyLimit: c.limit, seed: UInt64(n))
            let scale = 1 / Float(12).squareRoot()
            let want = p.reference(scale: scale)
            // Key chunks (the keys copied per pass) of one tile, several tiles, one rounded up to
            // whole tiles (6 → 10 at tile 5), and all keys at once.
            for (qt, kt, chunk) in [(1, 1, 1), (3, 5, 6), (4, 16, 32), (64, 64, 4096), (7, 2, 4), (7, 2, 4096)] {
                assertClose(p.tiled(queryTile: qt, keyTile: kt, keyChunk: chunk, scale: scale), want, absTol: 2e-6,
                            "case \(n) with tiles \(qt)x\(kt), key chunk \(chunk)")
            }
        }
    }

    func testTilingDoesNotChangeResultsBeyondRounding() {
        let p = Problem(keys: 300, queries: 300, firstPosition: 0, keyLimit: 300, seed: 9)
        let a = p.tiled(queryTile: 300, keyTile: 300, scale: 0.3)
        let b = p.tiled(queryTile: 32, keyTile: 17, scale: 0.3)
        assertClose(a, b, absTol: 1e-6, "untiled vs tiled")
        // The key chunks change which keys sit in the copied panel, not the tiles or their order.
        XCTAssertEqual(p.tiled(queryTile: 32, keyTile: 17, keyChunk: 34, scale: 0.3), b, "key chunks of two tiles vs one pass")
        XCTAssertEqual(CausalAttention(keyTile: 512, keyChunk: 1000).keyChunk, 1024)
    }

    func testHeadsSplitOverTwoThreadsGiveTheSameBitsAsOne() {
        let p = Problem(keys: 90, queries: 70, firstPosition: 20, keyLimit: 90, seed: 5)
        let saved = BLAS.threads
        defer { BLAS.setThreads(saved) }
        BLAS.setThreads(1)
        let one = p.tiled(queryTile: 16, keyTile: 32, scale: 0.4)
        BLAS.setThreads(2)
        XCTAssertEqual(Parallel.workers(for: p.heads), 2)
        let two = p.tiled(queryTile: 16, keyTile: 32, scale: 0.4)
        XCTAssertEqual(one, two, "per-head work must not depend on the thread split")
        assertClose(two, p.reference(scale: 0.4), absTol: 2e-6, "two workers vs reference")
        XCTAssertEqual(BLAS.threads, 2, "Parallel.run restores the BLAS thread count")
    }

}
