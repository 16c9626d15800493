import ContextParallel
@testable import DeepSeekModel
import Engine
import Foundation
import KVCache
import TestSupport
import TinyModelSupport
import XCTest

/// Prefill that starts after a prefix cache's pages, on P in-process ranks, against the whole
/// prompt computed from scratch on one process.
final class PCPPrefixCacheTests: XCTestCase {
    static let modelDirectory = TinyModel.directory
    static let pageSize = 8

    func prompt(_ n: Int, salt: Int = 0) -> [Int32] { (0..<n).map { Int32(($0 * 131 + salt * 17 + 5) % 512) } }

    /// Last-position logits and every layer's rows [layers][tokens × rowWidth] of prompts computed whole, one process.
    func reference(_ prompts: [[Int32]]) throws -> (logits: [[Float]], rows: [[[Float]]]) {
        let model = try DeepSeekTransformer(directory: Self.modelDirectory)
        let c = model.config
        let cache = try PagedLatentCache(layers: c.numHiddenLayers, rowWidth: c.latentRowWidth, pageSize: Self.pageSize, pageCount: 64)
        let seqs = try prompts.map { try cache.allocate(capacity: $0.count) }
        let logits = try model.prefill(.singleRank(newTokens: prompts), sequences: seqs, cache: cache)!
        return (logits, try zip(prompts, seqs).map { try Self.rows(cache, $1, tokens: $0.count) })
    }

    static func rows(_ cache: PagedLatentCache, _ sequence: Int, tokens: Int) throws -> [[Float]] {
        try (0..<cache.layers).map { l in
            var buf = [Float](repeating: 0, count: tokens * cache.rowWidth)
            try cache.read(sequence: sequence, layer: l, start: 0, count: tokens, into: &buf)
            return buf
        }
    }

    /// A first batch fills the index; the second batch's prompts reuse its pages (a prefix of one,
    /// all but the last page of another, none for a third): their logits and rows match the
    /// whole-prompt reference, on every rank alike, whole or in chunks.
    func testPromptsAfterCachedPagesMatchTheWholePrompt() throws {
        let a = prompt(40, salt: 1), c = prompt(19, salt: 2)
        let second = [Array(a.prefix(27)) + prompt(23, salt: 3), a, prompt(12, salt: 4)]
        let wantPages = [3, 4, 0]                        // ⌊27 / 8⌋; (40 − 1) / 8; nothing shared
        let want = try reference(second)
        for (ranks, chunk) in [(1, nil), (2, nil), (3, nil), (2, 10)] as [(Int, Int?)] {
            let results = try InProcessGroup(size: ranks).run { comm -> (logits: [[Float]]?, rows: [[[Float]]], reused: [Int], free: Int) in
                let model = try DeepSeekTransformer(directory: Self.modelDirectory)
                let cfg = model.config
                let cache = try PagedLatentCache(layers: cfg.numHiddenLayers, rowWidth: cfg.latentRowWidth, pageSize: Self.pageSize, pageCount: 40)
                let index = PrefixIndex(cache: cache)
                let engine = PrefillEngine(model: model, communicator: comm, chunkTokens: chunk)
                let firstSeqs = try [a, c].map { try cache.allocate(capacity: $0.count) }
                _ = try engine.run(prompts: [a, c], sequences: firstSeqs, cache: cache)
                for (p, s) in zip([a, c], firstSeqs) { try index.insert(p, sequence: s) }
                for s in firstSeqs { cache.release(s) }

                let found = second.map { index.match($0, maxPages: ($0.count - 1) / Self.pageSize) }
                let seqs = try zip(second, found).map { try cache.allocate(capacity: $0.count, sharing: index.pages(of: $1)) }
                let logits = try engine.run(prompts: second, sequences: seqs, cache: cache,
                                            cachedPrefix: found.map { $0.count * Self.pageSize })
                let rows = try zip(second, seqs).map { try Self.rows(cache, $1, tokens: $0.count) }
                for s in seqs { cache.release(s) }
                index.removeAll()
                return (logits, rows, found.map(\.count), cache.freePageCount)
            }
            let what = "P=\(ranks) chunk=\(chunk.map(String.init) ?? "none")"
            XCTAssertEqual(results[0].reused, wantPages, what)
            let logits = try XCTUnwrap(results[0].logits, what)
            for i in second.indices {
                assertClose(logits[i], want.logits[i], absTol: 1e-11, relTol: 1e-5, "\(what): prompt \(i) logits")
                for l in want.rows[i].indices {
                    assertClose(results[0].rows[i][l], want.rows[i][l], absTol: 1e-5, "\(what): prompt \(i) layer \(l) rows")
                }
            }
            for r in results.indices {
                XCTAssertEqual(results[r].rows, results[0].rows, "\(what): rank \(r) holds rank 0's rows")
                XCTAssertEqual(results[r].free, 40, "\(what): rank \(r) got every page back")
            }
        }
    }

    /// The test above runs both MLA forms on tiny's shapes: a's repeat (8 rows after 32 cached keys)
    /// in the absorbed form, the 26 rows after 24 cached keys and the whole prompts decompressed.
    func testBothAttentionFormsAreChosen() throws {
        let model = try DeepSeekTransformer(directory: Self.modelDirectory)
        func pairs(first: Int, rows: Int) -> Int { DeepSeekTransformer.causalPairs(.init(request: 0, localStart: 0, count: rows, firstPosition: first), visible: first + rows) }
        XCTAssertEqual(pairs(first: 32, rows: 8), (33...40).reduce(0, +))
        XCTAssertTrue(model.absorbedIsCheaper(queryRows: 8, keys: 40, pairs: pairs(first: 32, rows: 8)))
        XCTAssertFalse(model.absorbedIsCheaper(queryRows: 26, keys: 50, pairs: pairs(first: 24, rows: 26)))
        XCTAssertFalse(model.absorbedIsCheaper(queryRows: 40, keys: 40, pairs: pairs(first: 0, rows: 40)))
    }

    func testCachedPrefixIsRefusedWherePositionsMustBeComputed() throws {
        let model = try DeepSeekTransformer(directory: Self.modelDirectory)
        let cache = try PagedLatentCache(layers: model.config.numHiddenLayers, rowWidth: model.config.latentRowWidth, pageSize: 8, pageCount: 8)
        let engine = PrefillEngine(model: model, communicator: SingleRankCommunicator())
        let p = prompt(16), seq = try cache.allocate(capacity: 16)
        XCTAssertThrowsError(try engine.run(prompts: [p], sequences: [seq], cache: cache, cachedPrefix: [16]), "no token left to compute")
        XCTAssertThrowsError(try engine.run(prompts: [p], sequences: [seq], cache: cache, cachedPrefix: [8], promptLogprobs: [2]),
                             "prompt logprobs need every position")
    }
}
