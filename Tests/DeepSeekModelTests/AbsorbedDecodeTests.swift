import DeepSeekModel
import Foundation
import KVCache
import TestSupport
import TinyModelSupport
import XCTest

/// The absorbed decode form (attention straight on the latent cache) against the decompressed
/// prefill form at the same positions.
final class AbsorbedDecodeTests: XCTestCase {
    func testDecodeStepsMatchPrefillLogits() throws {
        let model = try TinyModel.load()
        let short: [Int32] = [5, 99, 300, 7, 42, 511, 0, 13, 260, 77, 3]
        // Past two of decode attention's chunks of positions (AbsorbedAttention.chunkPositions).
        let long = (0..<140).map { Int32($0 * 131 % 509) }
        for (prompt, split) in [(short, 1), (short, 4), (short, short.count - 1), (long, 126)] {
            // Prefill the first `split` tokens, then decode the rest one by one (batch of 1).
            let (_, cache, seqs) = try model.referencePrefill([Array(prompt[..<split])], extraCapacity: prompt.count)
            var logits = [Float](repeating: 0, count: model.config.vocabSize)
            for t in split..<prompt.count {
                try [prompt[t]].withUnsafeBufferPointer { toks in
                    try seqs.withUnsafeBufferPointer { s in try model.decode(tokens: toks, sequences: s, cache: cache, logits: &logits) }
                }
                let reference = try model.referencePrefill([Array(prompt[...t])]).logits[0]
                assertClose(logits, reference, relTol: 1e-4, "split \(split), position \(t)")
            }
        }
    }

    /// Batches of 3 and of 11 (more than SkinnyLinear's 8-row block, not a multiple of it: the
    /// daemon batches up to 32 sequences).
    func testBatchedDecodeEqualsOneByOne() throws {
        let model = try TinyModel.load()
        let few: [[Int32]] = [[1, 2, 3], [400, 401, 402, 403, 404, 405, 406], [9]]
        var many: [[Int32]] = []
        for i in 0..<11 {
            let length = 1 + i % 5
            many.append((0..<length).map { j -> Int32 in Int32((i * 41 + j * 7) % 500) })
        }
        for prompts in [few, many] {
            let next = prompts.indices.map { i -> Int32 in Int32(17 + i) }
            try checkBatchedDecode(model, prompts: prompts, next: next)
        }
    }

    private func checkBatchedDecode(_ model: DeepSeekTransformer, prompts: [[Int32]], next: [Int32]) throws {
        let (_, cache, seqs) = try model.referencePrefill(prompts)
        var batched = [Float](repeating: 0, count: prompts.count * model.config.vocabSize)
        try next.withUnsafeBufferPointer { t in try seqs.withUnsafeBufferPointer { s in try model.decode(tokens: t, sequences: s, cache: cache, logits: &batched) } }
        for i in prompts.indices {
            let (_, c1, s1) = try model.referencePrefill([prompts[i]])
            var single = [Float](repeating: 0, count: model.config.vocabSize)
            try [next[i]].withUnsafeBufferPointer { t in try s1.withUnsafeBufferPointer { s in try model.decode(tokens: t, sequences: s, cache: c1, logits: &single) } }
            let row = Array(batched[i * model.config.vocabSize..<(i + 1) * model.config.vocabSize])
            assertClose(row, single, absTol: 1e-4, "sequence \(i) of \(prompts.count)")
        }
    }

    func testBatchedPrefillEqualsSeparatePrefills() throws {
        let model = try TinyModel.load()
        let prompts: [[Int32]] = [[1, 2, 3, 4, 5], [100], [7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 8]]
        let batched = try model.referencePrefill(prompts).logits
        for (i, p) in prompts.enumerated() {
            assertClose(batched[i], try model.referencePrefill([p]).logits[0], absTol: 1e-4, "prompt \(i)")
        }
    }

    func testCachedPrefixPrefillEqualsWholePrefill() throws {
        // Chunked prefill at the model level: the second chunk reads the first from the cache.
        let model = try TinyModel.load()
        let prompt: [Int32] = (0..<40).map { Int32(($0 * 37) % 512) }
        let whole = try model.referencePrefill([prompt]).logits[0]
        let cache = try PagedLatentCache(layers: model.config.numHiddenLayers, rowWidth: model.config.latentRowWidth, pageSize: 8, pageCount: 6)
        let seq = try cache.allocate(capacity: 40)
        _ = try model.prefill(.singleRank(newTokens: [Array(prompt[..<25])]), sequences: [seq], cache: cache)
        let chunked = try model.prefill(.singleRank(newTokens: [Array(prompt[25...])], cachedPrefix: [25]), sequences: [seq], cache: cache)!
        assertClose(chunked[0], whole, absTol: 1e-4, "chunked vs whole")
    }
}
