import Basics
@testable import DeepSeekModel
import Foundation
import KVCache
import Tensors
import TestSupport
import TinyModelSupport
import XCTest

/// Decode over a bf16 latent cache: its attention (bf16 skinny scores, KVWeightedRows values)
/// against the f32 path over the same rows, and a whole decode step against an f32 cache holding
/// the same rounded rows.
final class BF16CacheDecodeTests: XCTestCase {
    /// The absorbed attention of one layer over the same (bf16-representable) rows held as f32 and as
    /// bf16: equal to f32 rounding (the value side is the same FMA chains over both; the scores come
    /// from the f32 and the bf16 skinny kernels, which may group their sums differently — on AVX2 the
    /// two give the same bits), for a batch (sequences split over workers) and one sequence (heads
    /// split), with lengths across page boundaries.
    func testAttentionOverBF16RowsEqualsF32PathOverTheSameRows() throws {
        let model = try TinyModel.load()
        let c = model.config, rw = c.latentRowWidth, heads = c.numAttentionHeads
        var g = SeededRandom(seed: 3)
        for lengths in [[37], [1, 5, 37, 16]] {
            var outputs: [LatentDType: [Float]] = [:]
            let rows = lengths.map { n in (0..<n * rw).map { _ in BFloat16.float(from: BFloat16.bits(from: Float.random(in: -2...2, using: &g))) } }
            let queries = (0..<lengths.count * heads * c.qkHeadDim).map { _ in Float.random(in: -1...1, using: &g) }
            for dtype in LatentDType.allCases {
                let cache = try PagedLatentCache(layers: c.numHiddenLayers, rowWidth: rw, pageSize: 4, pageCount: 64, dtype: dtype)
                let sequences = try lengths.map { try cache.allocate(capacity: $0) }
                for (s, r) in zip(sequences, rows) { try cache.write(sequence: s, layer: 1, start: 0, rows: r, count: r.count / rw) }
                let q = model.queries.reserve(queries.count)
                q.update(from: queries, count: queries.count)
                let before = lengths.map { Int32($0 - 1) }                     // rows cached before "this step"
                try sequences.withUnsafeBufferPointer { seqs in
                    try before.withUnsafeBufferPointer { lens in
                        AbsorbedAttention(model: model).run(model.weights.layers[1].attention, layer: 1, sequences: seqs,
                                                            lengths: lens.baseAddress!, cache: cache)
                    }
                }
                outputs[dtype] = Array(UnsafeBufferPointer(start: model.attnOut.pointer, count: lengths.count * heads * c.vHeadDim))
            }
            assertClose(outputs[.bf16]!, outputs[.f32]!, relTol: 1e-5, "lengths \(lengths)")
        }
    }

    /// The same prefill (f32, as the prefill daemon runs it), its rows moved into a bf16 cache and,
    /// rounded to bf16 by the codec, into an f32 cache; one decode step of a batch of 3 over each
    /// computes the same model: the logits differ only by the rounding of the step's own new row
    /// (which the bf16 cache stores rounded), and every layer routes to the same experts.
    /// (Over several steps a rounding can flip a routing choice of this random tiny MoE — e.g.
    /// layer 2 picks expert 3 instead of 7 from the first step against an f32 cache — so logits vs
    /// the f32 cache are bounded on the dense `bench` model instead: docs/kv-cache-bf16.md.)
    func testOneStepEqualsF32CacheOverTheSameRoundedRows() throws {
        let model = try TinyModel.load()
        let c = model.config
        let prompts: [[Int32]] = [[5, 99, 300, 7, 42, 511, 0, 13, 260, 77, 3], [400, 401], (0..<40).map { Int32($0 * 37 % 512) }]
        let (_, source, prefilled) = try model.referencePrefill(prompts, extraCapacity: 8)
        var logits: [LatentDType: [Float]] = [:], experts: [LatentDType: [[Int]]] = [:]
        for dtype in LatentDType.allCases {
            let cache = try PagedLatentCache(layers: c.numHiddenLayers, rowWidth: c.latentRowWidth, pageSize: 4, pageCount: 64, dtype: dtype)
            var sequences: [Int] = []
            for (s, p) in zip(prefilled, prompts) {
                let t = try cache.allocate(capacity: p.count + 8)
                var rows = [Float](repeating: 0, count: p.count * c.latentRowWidth)
                for l in 0..<c.numHiddenLayers {
                    try source.read(sequence: s, layer: l, start: 0, count: p.count, into: &rows)
                    rows = rows.map { BFloat16.float(from: BFloat16.bits(from: $0)) }
                    try cache.write(sequence: t, layer: l, start: 0, rows: rows, count: p.count)
                }
                try cache.setLength(p.count, of: t)
                sequences.append(t)
            }
            var out = [Float](repeating: 0, count: prompts.count * c.vocabSize)
            let tokens: [Int32] = [0, 5, 10]
            try tokens.withUnsafeBufferPointer { t in
                try sequences.withUnsafeBufferPointer { s in try model.decode(tokens: t, sequences: s, cache: cache, logits: &out) }
            }
            logits[dtype] = out
            experts[dtype] = (0..<c.numHiddenLayers).map { model.expertsComputedInLastForward(layer: $0) }
        }
        XCTAssertEqual(experts[.bf16], experts[.f32], "routing")
        let closeness = assertClose(logits[.bf16]!, logits[.f32]!, relTol: 1e-3, "bf16 cache vs f32 cache over the same rounded rows")
        XCTAssertGreaterThan(closeness.maxAbsDiff, 0, "the bf16 cache rounds the step's own row: the logits cannot be identical")
    }

    /// Prefill computes over f32 rows only (a bf16 cache is filled by a KV transfer).
    func testPrefillIntoBF16CacheIsRefused() throws {
        let model = try TinyModel.load()
        let c = model.config
        let cache = try PagedLatentCache(layers: c.numHiddenLayers, rowWidth: c.latentRowWidth, pageSize: 4, pageCount: 4, dtype: .bf16)
        let s = try cache.allocate(capacity: 3)
        XCTAssertThrowsError(try model.prefill(.singleRank(newTokens: [[1, 2, 3]]), sequences: [s], cache: cache)) {
            XCTAssertEqual($0 as? ModelError, .unsupported(feature: "prefill into a bf16 latent cache (prefill writes f32 rows)"))
        }
    }
}
