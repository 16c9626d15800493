import ContextParallel
import DeepSeekModel
import Engine
import Foundation
import KVCache
import TestSupport
import TinyModelSupport
import XCTest

/// PCP prefill over P in-process ranks against the model's single-process reference path.
final class PCPPrefillTests: XCTestCase {
    static let modelDirectory = TinyModel.directory

    func prompt(_ n: Int, salt: Int = 0) -> [Int32] { (0..<n).map { Int32(($0 * 131 + salt * 17 + 5) % 512) } }

    /// Logits of each prompt's last position by the reference path (LocalExchange, no shards).
    func reference(_ prompts: [[Int32]]) throws -> [[Float]] {
        let model = try DeepSeekTransformer(directory: Self.modelDirectory)
        let cache = try PagedLatentCache(layers: model.config.numHiddenLayers, rowWidth: model.config.latentRowWidth,
                                         pageSize: 16, pageCount: prompts.reduce(0) { $0 + $1.count / 16 + 1 })
        let seqs = try prompts.map { try cache.allocate(capacity: $0.count) }
        return try model.prefill(.singleRank(newTokens: prompts), sequences: seqs, cache: cache)!
    }

    /// Runs PCP prefill on `ranks` threads; returns rank 0's logits and every rank's cache rows.
    func pcp(_ prompts: [[Int32]], ranks: Int, chunkTokens: Int? = nil) throws -> (logits: [[Float]], caches: [[[Float]]]) {
        let group = InProcessGroup(size: ranks)
        let results = try group.run { comm -> ([[Float]]?, [[Float]]) in
            let model = try DeepSeekTransformer(directory: Self.modelDirectory)
            let c = model.config
            let cache = try PagedLatentCache(layers: c.numHiddenLayers, rowWidth: c.latentRowWidth, pageSize: 16,
                                             pageCount: prompts.reduce(0) { $0 + $1.count / 16 + 1 })
            let seqs = try prompts.map { try cache.allocate(capacity: $0.count) }
            let engine = PrefillEngine(model: model, communicator: comm, chunkTokens: chunkTokens)
            let logits = try engine.run(prompts: prompts, sequences: seqs, cache: cache)
            // Every layer's full latent cache of every request, as this rank holds it.
            var rows: [[Float]] = []
            for (i, s) in seqs.enumerated() {
                for l in 0..<c.numHiddenLayers {
                    var buf = [Float](repeating: 0, count: prompts[i].count * c.latentRowWidth)
                    try cache.read(sequence: s, layer: l, start: 0, count: prompts[i].count, into: &buf)
                    rows.append(buf)
                }
            }
            return (logits, rows)
        }
        XCTAssertNotNil(results[0].0, "rank 0 returns logits")
        for r in 1..<ranks { XCTAssertNil(results[r].0, "rank \(r) returns no logits") }
        return (results[0].0!, results.map(\.1))
    }

    func assertMatches(_ got: [[Float]], _ want: [[Float]], _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(got.count, want.count, file: file, line: line)
        for i in want.indices where i < got.count {
            // Relative to the largest |logit| (floored at 1e-6 by the absolute bound).
            assertClose(got[i], want[i], absTol: 1e-11, relTol: 1e-5, "\(what): request \(i)", file: file, line: line)
        }
    }

    func testEveryPromptLengthForOneToFourRanks() throws {
        // The engine balances head/tail splits by the model's decompression cost: the longer
        // prompts here run with uneven chunks (rank 0's head longer than its tail).
        let keyCost = try DeepSeekTransformer(directory: Self.modelDirectory).config.decompressionCostInPairs
        let uneven = ShardPlan(lengths: [300], ranks: 2, keyCost: keyCost)
        XCTAssertGreaterThan(uneven.headSize(request: 0, rank: 0), uneven.tailSize(request: 0, rank: 0))
        for p in 1...4 {
            for n in Set([1, 2 * p - 1, 2 * p, 2 * p + 1, 97, 300]).sorted() {
                let prompts = [prompt(n)]
                let (logits, caches) = try pcp(prompts, ranks: p)
                assertMatches(logits, try reference(prompts), "P=\(p) n=\(n)")
                for r in 1..<p { XCTAssertEqual(caches[r], caches[0], "P=\(p) n=\(n): rank \(r) holds the same full cache as rank 0") }
            }
        }
    }

    func testMixedLengthBatch() throws {
        let prompts = [prompt(1), prompt(7, salt: 1), prompt(33, salt: 2), prompt(2, salt: 3), prompt(64, salt: 4)]
        let want = try reference(prompts)
        for p in [2, 3] {
            assertMatches(try pcp(prompts, ranks: p).logits, want, "P=\(p) mixed batch")
        }
    }

    func testChunkedPrefillMatchesUnchunked() throws {
        let prompts = [prompt(75), prompt(20, salt: 5)]
        let want = try reference(prompts)
        for (p, chunk) in [(1, 16), (2, 16), (3, 10), (2, 1)] {
            assertMatches(try pcp(prompts, ranks: p, chunkTokens: chunk).logits, want, "P=\(p) chunk=\(chunk)")
        }
    }

    func testCacheRowsMatchReferenceCache() throws {
        let prompts = [prompt(23, salt: 9)]
        let (_, caches) = try pcp(prompts, ranks: 3)
        let model = try DeepSeekTransformer(directory: Self.modelDirectory)
        let c = model.config
        let cache = try PagedLatentCache(layers: c.numHiddenLayers, rowWidth: c.latentRowWidth, pageSize: 16, pageCount: 2)
        let seq = try cache.allocate(capacity: 23)
        _ = try model.prefill(.singleRank(newTokens: prompts), sequences: [seq], cache: cache)
        for l in 0..<c.numHiddenLayers {
            var want = [Float](repeating: 0, count: 23 * c.latentRowWidth)
            try cache.read(sequence: seq, layer: l, start: 0, count: 23, into: &want)
            assertClose(caches[0][l], want, absTol: 1e-5, "layer \(l) latent rows")
        }
    }

    func testConsecutiveBatchesOfDifferentShapesKeepNoStaleState() throws {
        let a = [prompt(50, salt: 1), prompt(3, salt: 2)], b = [prompt(9, salt: 3)]
        let wantA = try reference(a), wantB = try reference(b)
        let group = InProcessGroup(size: 2)
        let results = try group.run { comm -> [[[Float]]?] in
            let model = try DeepSeekTransformer(directory: Self.modelDirectory)
            let engine = PrefillEngine(model: model, communicator: comm)
            var out: [[[Float]]?] = []
            for batch in [a, b, a] {
                let cache = try PagedLatentCache(layers: model.config.numHiddenLayers, rowWidth: model.config.latentRowWidth,
                                                 pageSize: 8, pageCount: 16)
                let seqs = try batch.map { try cache.allocate(capacity: $0.count) }
                out.append(try engine.run(prompts: batch, sequences: seqs, cache: cache))
            }
            return out
        }
        assertMatches(results[0][0]!, wantA, "first batch")
        assertMatches(results[0][1]!, wantB, "second batch")
        assertMatches(results[0][2]!, wantA, "third batch (first again)")
    }

    func testGreedyTokensUnderPCPEqualSingleRank() throws {
        let prompt = prompt(29, salt: 4)
        let params = SamplingParams(maxNewTokens: 12)
        let single = try Generator(model: DeepSeekTransformer(directory: Self.modelDirectory)).generate(prompts: [prompt], params: [params])!
        let group = InProcessGroup(size: 3)
        let results = try group.run { comm in
            try Generator(model: DeepSeekTransformer(directory: Self.modelDirectory), communicator: comm).generate(prompts: [prompt], params: [params])
        }
        XCTAssertEqual(results[0]?.first?.tokens, single[0].tokens)
        XCTAssertEqual(single[0].tokens.count, 12)
    }

    func testCancelledPromptLeavesAChunkedBatch() throws {
        let prompts = [prompt(60, salt: 1), prompt(50, salt: 2), prompt(9, salt: 3)]
        let want = try reference([prompts[0], prompts[2]])
        let results = try InProcessGroup(size: 2).run { comm -> ([[Float]]?, Int) in
            let model = try DeepSeekTransformer(directory: Self.modelDirectory)
            let cache = try PagedLatentCache(layers: model.config.numHiddenLayers, rowWidth: model.config.latentRowWidth, pageSize: 8, pageCount: 32)
            let seqs = try prompts.map { try cache.allocate(capacity: $0.count) }
            let engine = PrefillEngine(model: model, communicator: comm, chunkTokens: 16)
            // Rank 0 decides: prompt 1 is cancelled after the first step; the other ranks' answer is ignored.
            let logits = try engine.run(prompts: prompts, sequences: seqs, cache: cache, cancellation: { i in comm.rank == 0 && i == 1 })
            return (logits, engine.steps)
        }
        let logits = results[0].0!
        XCTAssertTrue(logits[1].isEmpty, "the cancelled prompt has no logits")
        assertMatches([logits[0], logits[2]], want, "the others are unaffected")
        XCTAssertEqual(results[0].1, results[1].1, "every rank ran the same steps")
        XCTAssertEqual(results[0].1, 4, "60 tokens in chunks of 16")
    }

    /// A whole (unchunked) step whose prompts are all cancelled stops at the next layer boundary on
    /// every rank (the probe's 3000-token request with a 50 ms deadline used to run all its layers),
    /// and the engine serves the next batch exactly.
    func testAllCancelledStepStopsWithinOneLayerOnEveryRank() throws {
        let doomed = [prompt(40, salt: 4), prompt(25, salt: 5)], next = [prompt(33, salt: 6)]
        let want = try reference(next)
        let results = try InProcessGroup(size: 2).run { comm -> ([Int], Int, Int, [[Float]]?) in
            let model = try DeepSeekTransformer(directory: Self.modelDirectory)
            let cache = try PagedLatentCache(layers: model.config.numHiddenLayers, rowWidth: model.config.latentRowWidth, pageSize: 8, pageCount: 32)
            let engine = PrefillEngine(model: model, communicator: comm)
            var layersSeen: [Int] = []
            let seqs = try doomed.map { try cache.allocate(capacity: $0.count) }
            // Rank 0 decides (the others' answer is ignored): both prompts cancelled from the start.
            let logits = try engine.run(prompts: doomed, sequences: seqs, cache: cache, cancellation: { _ in comm.rank == 0 },
                                        onLayer: { layer, _ in layersSeen.append(layer) })
            XCTAssertTrue(logits?.allSatisfy(\.isEmpty) ?? true, "no logits for cancelled prompts")
            let gathers = engine.latentGathers, abandoned = engine.abandonedSteps
            for s in seqs { cache.release(s) }
            let nextSeqs = try next.map { try cache.allocate(capacity: $0.count) }
            let nextLogits = try engine.run(prompts: next, sequences: nextSeqs, cache: cache, cancellation: { _ in false })
            return (layersSeen, gathers, abandoned, nextLogits)
        }
        for (rank, r) in results.enumerated() {
            XCTAssertEqual(r.0, [0], "rank \(rank): only layer 0 ran")
            XCTAssertEqual(r.1, 1, "rank \(rank): one latent all-gather, not one per layer")
            XCTAssertEqual(r.2, 1, "rank \(rank): the step was abandoned")
        }
        assertMatches(results[0].3!, want, "the next batch is exact")
    }

    func testOneAllGatherPerLayerPerStep() throws {
        let group = InProcessGroup(size: 2)
        let counts = try group.run { comm -> (Int, Int) in
            let model = try DeepSeekTransformer(directory: Self.modelDirectory)
            let cache = try PagedLatentCache(layers: model.config.numHiddenLayers, rowWidth: model.config.latentRowWidth, pageSize: 8, pageCount: 16)
            let prompts = [self.prompt(10), self.prompt(30, salt: 1), self.prompt(5, salt: 2)]
            let seqs = try prompts.map { try cache.allocate(capacity: $0.count) }
            let engine = PrefillEngine(model: model, communicator: comm)
            _ = try engine.run(prompts: prompts, sequences: seqs, cache: cache)
            return (engine.latentGathers, engine.bytesGathered)
        }
        // Three requests in one batch: still one gather per layer, of every rank's rows (c_kv and k_pe together).
        XCTAssertEqual(counts[0].0, 3)
        let plan = ShardPlan(lengths: [10, 30, 5], ranks: 2)
        XCTAssertEqual(counts[0].1, 3 * 2 * plan.rowsPerRank * (32 + 16) * 4)
    }
}

/// The HF golden checkpoints under PCP (in-process ranks): same tolerance as the single-process golden test.
final class PCPGoldenTests: XCTestCase {
    struct Expected: Decodable {
        struct Case: Decodable { let prompt_ids: [Int32]; let last_logits: [Float] }
        let cases: [Case]
    }

    func testGoldenCheckpointsMatchTransformersUnderPCP() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("DeepSeekModelTests/Golden").path
        let folders = try FileManager.default.contentsOfDirectory(atPath: root)
            .filter { FileManager.default.fileExists(atPath: "\(root)/\($0)/expected.json") }.sorted()
        XCTAssertGreaterThanOrEqual(folders.count, 5)
        for folder in folders {
            let dir = "\(root)/\(folder)"
            let expected = try JSONDecoder().decode(Expected.self, from: Data(contentsOf: URL(fileURLWithPath: dir + "/expected.json")))
            let prompts = expected.cases.map(\.prompt_ids)
            for ranks in [2, 3] {
                let results = try InProcessGroup(size: ranks).run { comm -> [[Float]]? in
                    let model = try DeepSeekTransformer(directory: dir)
                    let c = model.config
                    let cache = try PagedLatentCache(layers: c.numHiddenLayers, rowWidth: c.latentRowWidth, pageSize: 16,
                                                     pageCount: prompts.reduce(0) { $0 + $1.count / 16 + 1 })
                    let seqs = try prompts.map { try cache.allocate(capacity: $0.count) }
                    return try PrefillEngine(model: model, communicator: comm).run(prompts: prompts, sequences: seqs, cache: cache)
                }
                for (i, c) in expected.cases.enumerated() {
                    assertClose(results[0]![i], c.last_logits, relTol: 1e-3, "\(folder) case \(i) with \(ranks) ranks")
                }
            }
        }
    }
}

/// Checkpoints stored as BF16 / FP8 blocks, kept as stored: PCP prefill at P = 2, 3, 4 gives
/// transformers' fp32 logits on the values the files encode within 1e-4 relative, and the same
/// greedy tokens as the single-process run.
final class PCPStoredDTypeTests: XCTestCase {
    struct Expected: Decodable {
        struct Case: Decodable { let prompt_ids: [Int32]; let last_logits: [Float]; let greedy_tokens: [Int] }
        let cases: [Case]
    }

    func testStoredDTypeGoldensUnderPCP() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("DeepSeekModelTests/Golden").path
        for folder in ["v2_bf16", "v3_bf16_hub", "v3_fp8"] {
            let dir = "\(root)/\(folder)"
            let expected = try JSONDecoder().decode(Expected.self, from: Data(contentsOf: URL(fileURLWithPath: dir + "/expected.json")))
            for ranks in [2, 3, 4] {
                for (i, c) in expected.cases.enumerated() {
                    let params = SamplingParams(maxNewTokens: c.greedy_tokens.count, ignoreEOS: true)
                    let outputs = try InProcessGroup(size: ranks).run { comm in
                        try Generator(model: DeepSeekTransformer(directory: dir), communicator: comm).generate(prompts: [c.prompt_ids], params: [params])
                    }
                    guard let out = outputs[0]?.first else { return XCTFail("\(folder): rank 0 returned nothing") }
                    let label = "\(folder) case \(i) with \(ranks) ranks"
                    assertClose(out.lastLogits, c.last_logits, relTol: 1e-4, label)
                    XCTAssertEqual(out.tokens, c.greedy_tokens, label)
                }
            }
        }
    }
}
