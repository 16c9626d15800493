@testable import DeepSeekModel
import Kernels
import KVCache
import TinyModelSupport
import XCTest

/// Decode is batch-invariant on the kernels this CPU runs (AVX2 or AVX-512): a sequence's logits are
/// the same bits whether it decodes alone or in a continuous batch whose members come and go. Every
/// kernel computes each (weight row, x row) dot in one fixed order whatever the row count, attention
/// works per sequence in fixed chunks of positions, and MoE routes per token. Checked here on f32,
/// bf16 and f16 weights, and FP8 on AVX-512; on AVX2, FP8 (block columns a multiple of 32, as
/// checkpoints ship them) by the kernel test `testFP8RowsOfABatchEqualEachRowAlone` — there the FP8
/// goldens' 16-column blocks take the dequantizing loop, which is not invariant.
final class BatchInvarianceTests: XCTestCase {
    /// Three token streams of 10 steps, starting at steps 0, 3 and 5 of one batch (so the batch
    /// holds 1, 2 and 3 sequences, then 2 and 1), against each stream decoded alone.
    func testContinuousBatchEqualsEachSequenceAlone() throws {
        let starts = [0, 3, 5], steps = 10
        for (name, load) in models {
            let model = try load()
            let vocab = model.config.vocabSize
            let streams = starts.indices.map { i in (0..<steps).map { Int32(($0 * 37 + i * 101 + 5) % vocab) } }
            let batched = try decode(model, streams: streams, starts: starts)
            for i in streams.indices {
                let alone = try decode(model, streams: [streams[i]], starts: [0])[0]
                for t in 0..<steps {
                    XCTAssertEqual(batched[i][t].map(\.bitPattern), alone[t].map(\.bitPattern), "\(name): sequence \(i), step \(t)")
                }
            }
        }
    }

    /// Speculative decoding's step: a sequence's token and its drafts as rows at consecutive positions
    /// of one step (beside another sequence's rows) give the bits of one step per token; rows out of
    /// order are a layout error.
    func testRowsOfOneSequenceEqualOneStepPerToken() throws {
        for (name, load) in models {
            let model = try load()
            let c = model.config, vocab = c.vocabSize
            let prompt = (0..<6).map { Int32(($0 * 53 + 7) % vocab) }, next = (0..<5).map { Int32(($0 * 29 + 3) % vocab) }
            var runs: [[Float]] = []
            for together in [false, true] {
                let cache = try PagedLatentCache(layers: c.numHiddenLayers, rowWidth: c.latentRowWidth, pageSize: 4, pageCount: 16)
                let s = try cache.allocate(capacity: 16), other = try cache.allocate(capacity: 16)
                var logits = [Float](repeating: 0, count: (next.count + 1) * vocab)
                for tok in prompt { try step(model, [tok, tok], [s, other], nil, cache, &logits) }
                if together {   // the other sequence's row in the middle of this one's
                    try step(model, [next[0], next[1], 9, next[2], next[3], next[4]], [s, s, other, s, s, s],
                             [6, 7, 6, 8, 9, 10], cache, &logits)
                    logits.withUnsafeMutableBufferPointer { b in   // this sequence's rows in order: drop the other's
                        b.baseAddress!.advanced(by: 2 * vocab).update(from: b.baseAddress! + 3 * vocab, count: 3 * vocab)
                    }
                } else {
                    var one = [Float](repeating: 0, count: 2 * vocab)
                    for (i, tok) in next.enumerated() {
                        try step(model, [tok], [s], nil, cache, &one)
                        logits.replaceSubrange((i * vocab)..<((i + 1) * vocab), with: one[0..<vocab])
                    }
                }
                XCTAssertEqual(try cache.length(of: s), prompt.count + next.count, name)
                runs.append(Array(logits[0..<(next.count * vocab)]))
                for (positions, label) in [([Int32(11), 13], "a gap"), ([Int32(12), 13], "past the length")] {
                    XCTAssertThrowsError(try step(model, [1, 2], [s, s], positions, cache, &logits), "\(name): \(label)")
                }
            }
            XCTAssertEqual(runs[0].map(\.bitPattern), runs[1].map(\.bitPattern), "\(name): five rows at once against five steps")
        }
    }

    private func step(_ model: DeepSeekTransformer, _ tokens: [Int32], _ sequences: [Int], _ positions: [Int32]?,
                      _ cache: PagedLatentCache, _ logits: inout [Float]) throws {
        try tokens.withUnsafeBufferPointer { t in
            try sequences.withUnsafeBufferPointer { s in
                if let positions {
                    try positions.withUnsafeBufferPointer { p in try model.decode(tokens: t, sequences: s, positions: p, cache: cache, logits: &logits) }
                } else {
                    try model.decode(tokens: t, sequences: s, cache: cache, logits: &logits)
                }
            }
        }
    }

    private var models: [(String, () throws -> DeepSeekTransformer)] {
        var models: [(String, () throws -> DeepSeekTransformer)] = [
            ("tiny f32", { try TinyModel.load() }),
            ("tiny as bf16", { try DeepSeekTransformer(directory: TinyModel.directory, weightsDType: .bf16) }),
            ("v2_bf16", { try DeepSeekTransformer(directory: GoldenTests.goldenRoot + "/v2_bf16") }),
            ("v3_f16", { try DeepSeekTransformer(directory: GoldenTests.goldenRoot + "/v3_f16") }),
        ]
        if InstructionSet.active == .avx512 {   // its FP8 kernel folds the scales into x for any block width
            models.append(("v3_fp8", { try DeepSeekTransformer(directory: GoldenTests.goldenRoot + "/v3_fp8") }))
        }
        return models
    }

    /// logits[stream][step] when stream i decodes its tokens from step starts[i] of one batch.
    private func decode(_ model: DeepSeekTransformer, streams: [[Int32]], starts: [Int]) throws -> [[[Float]]] {
        let c = model.config
        let cache = try PagedLatentCache(layers: c.numHiddenLayers, rowWidth: c.latentRowWidth, pageSize: 4, pageCount: 64)
        let sequences = try streams.map { try cache.allocate(capacity: $0.count) }
        var logits = streams.map { _ in [[Float]]() }
        for t in 0..<(zip(streams, starts).map { $0.count + $1 }.max() ?? 0) {
            let active = streams.indices.filter { t >= starts[$0] && t - starts[$0] < streams[$0].count }
            guard !active.isEmpty else { continue }
            let tokens = active.map { streams[$0][t - starts[$0]] }, ids = active.map { sequences[$0] }
            var out = [Float](repeating: 0, count: active.count * c.vocabSize)
            try tokens.withUnsafeBufferPointer { tb in
                try ids.withUnsafeBufferPointer { sb in try model.decode(tokens: tb, sequences: sb, cache: cache, logits: &out) }
            }
            for (row, i) in active.enumerated() { logits[i].append(Array(out[(row * c.vocabSize)..<((row + 1) * c.vocabSize)])) }
        }
        return logits
    }
}
