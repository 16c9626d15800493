import Basics
@testable import DeepSeekModel
import Foundation
import KVCache
import Tensors
import TestSupport
import TinyModelSupport
import XCTest

/// Decode attention walks the cache in fixed chunks of `AbsorbedAttention.chunkPositions` with an
/// online softmax: its latent output against softmax(scale · q_lat · rowsᵀ) · rows in Double over
/// the whole sequence, and the same bits whatever the page size and page layout (runs that start
/// mid-page at a chunk boundary, runs of one page) and whether a sequence's heads are split.
final class ChunkedAttentionTests: XCTestCase {
    func testChunksEqualTheWholeSoftmaxWhateverThePages() throws {
        let model = try TinyModel.load()
        let c = model.config, rw = c.latentRowWidth, heads = c.numAttentionHeads, kvl = c.kvLoraRank
        let chunk = AbsorbedAttention.chunkPositions
        let lengths = [1, chunk - 1, chunk, chunk + 1, 3 * chunk + 5]
        var g = SeededRandom(seed: 11)
        // Rows of the second chunk 4× larger: in the longest sequence every head's running max grows
        // there (the rescale of the partial output), and not in the third and fourth chunks.
        let rows = lengths.map { n in
            (0..<n * rw).map { e -> Float in Float(e / rw / chunk == 1 ? 4 : 1) * Float.random(in: -1...1, using: &g) }
        }
        let queries = (0..<lengths.count * heads * c.qkHeadDim).map { _ in Float.random(in: -1...1, using: &g) }

        var outputs: [String: [Float]] = [:]
        var absorbedQ: [Float] = []
        for (name, pageSize, fragmented) in [("pages of 5", 5, false), ("pages of 5, scattered", 5, true),
                                             ("pages of 16", 16, false)] {
            let pages = lengths.reduce(0) { $0 + ($1 + pageSize - 1) / pageSize }
            let cache = try PagedLatentCache(layers: c.numHiddenLayers, rowWidth: rw, pageSize: pageSize, pageCount: 2 * pages)
            if fragmented {
                // Hold every other page, so each sequence gets pages no two of which are adjacent.
                let fillers = try (0..<2 * pages).map { _ in try cache.allocate(capacity: pageSize) }
                for (index, filler) in fillers.enumerated() where index % 2 == 1 { _ = cache.release(filler) }
            }
            let sequences = try lengths.map { try cache.allocate(capacity: $0) }
            for (s, r) in zip(sequences, rows) { try cache.write(sequence: s, layer: 1, start: 0, rows: r, count: r.count / rw) }
            // The batch (one item per sequence), then the longest alone (its heads split over the workers).
            var latent: [Float] = []
            for batch in [Array(sequences.indices), [sequences.count - 1]] {
                let q = model.queries.reserve(batch.count * heads * c.qkHeadDim)
                for (row, i) in batch.enumerated() {
                    (q + row * heads * c.qkHeadDim).update(from: Array(queries[(i * heads * c.qkHeadDim)...]), count: heads * c.qkHeadDim)
                }
                let before = batch.map { Int32(lengths[$0] - 1) }
                try batch.map { sequences[$0] }.withUnsafeBufferPointer { seqs in
                    try before.withUnsafeBufferPointer { lens in
                        AbsorbedAttention(model: model).run(model.weights.layers[1].attention, layer: 1, sequences: seqs,
                                                            lengths: lens.baseAddress!, cache: cache)
                    }
                }
                latent += UnsafeBufferPointer(start: model.outLatent.pointer, count: batch.count * heads * kvl)
                if batch.count == lengths.count {
                    absorbedQ = Array(UnsafeBufferPointer(start: model.absorbedQ.pointer, count: batch.count * heads * rw))
                }
            }
            outputs[name] = latent
        }
        XCTAssertEqual(outputs["pages of 5, scattered"], outputs["pages of 5"], "scattered pages")
        XCTAssertEqual(outputs["pages of 16"], outputs["pages of 5"], "page size")
        let split = outputs["pages of 5"]!.suffix(heads * kvl), alone = outputs["pages of 5"]![(lengths.count - 1) * heads * kvl..<lengths.count * heads * kvl]
        XCTAssertEqual(Array(split), Array(alone), "heads split over workers")

        // Double reference over whole sequences.
        var expected: [Double] = []
        var grew = 0
        for (i, n) in lengths.enumerated() {
            for h in 0..<heads {
                let q = absorbedQ[((i * heads + h) * rw)...].prefix(rw).map(Double.init)
                var scores = [Double](repeating: 0, count: n)
                for j in 0..<n {
                    var dot = 0.0
                    for e in 0..<rw { dot += q[e] * Double(rows[i][j * rw + e]) }
                    scores[j] = Double(model.softmaxScale) * dot
                }
                if n > 2 * chunk, scores[chunk..<2 * chunk].max()! > scores[..<chunk].max()!,
                   scores[(2 * chunk)...].max()! < scores[chunk..<2 * chunk].max()! { grew += 1 }
                let top = scores.max()!, weights = scores.map { exp($0 - top) }, total = weights.reduce(0, +)
                for col in 0..<kvl {
                    var sum = 0.0
                    for j in 0..<n { sum += weights[j] * Double(rows[i][j * rw + col]) }
                    expected.append(sum / total)
                }
            }
        }
        XCTAssertEqual(grew, heads, "in the longest sequence the second chunk raises every head's max, the later ones do not")
        assertClose(outputs["pages of 5"]!.prefix(lengths.count * heads * kvl), expected, absTol: 1e-6, relTol: 1e-5)
    }
}
