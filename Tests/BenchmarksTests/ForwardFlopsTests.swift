@testable import Benchmarks
import ContextParallel
import DeepSeekModel
import Foundation
import XCTest

/// The FLOP model the MFU figures rest on, against an independent count: every GEMM the prefill
/// performs (2·m·n·k, shapes written out by hand from the config) plus the causal (query, key)
/// pairs, enumerated row by row from where each query row stands.
final class ForwardFlopsTests: XCTestCase {
    /// The shapes of a built-in model, copied by hand (checked against its config below).
    struct Shapes {
        var vocab, hidden, intermediate, layers, heads, qLora: Int
        var kvLora, rope, nope, v: Int
        var denseLayers: Int                    // layers before the first MoE layer
        var moeIntermediate = 0, routedExperts = 0, topK = 0, sharedExperts = 0
    }

    static let tiny = Shapes(vocab: 512, hidden: 64, intermediate: 128, layers: 3, heads: 4, qLora: 48, kvLora: 32, rope: 16,
                             nope: 16, v: 16, denseLayers: 1, moeIntermediate: 32, routedExperts: 8, topK: 2, sharedExperts: 1)
    static let bench = Shapes(vocab: 32000, hidden: 2048, intermediate: 5632, layers: 4, heads: 16, qLora: 1536, kvLora: 512,
                              rope: 64, nope: 128, v: 128, denseLayers: 4)

    static func config(_ model: BuiltinModel, removing keys: [String] = []) throws -> DeepSeekConfig {
        var json = model.config
        for k in keys { json.removeValue(forKey: k) }
        return try JSONDecoder().decode(DeepSeekConfig.self, from: JSONSerialization.data(withJSONObject: json))
    }

    /// One process's query rows: per request, the positions of its local rows (nil = pad row,
    /// computed but attending to nothing) and whether this process computes the logits.
    struct Rows {
        var positions: [[Int?]]
        var computesLogits: Bool
    }

    /// Σ 2·m·n·k over the GEMMs of one prefill step, + 2·(pairs)·heads·(qk + v) for QKᵀ and PV.
    static func handCount(_ s: Shapes, _ rows: Rows, qLoRA: Bool = true) -> Double {
        func gemm(_ m: Int, _ n: Int, _ k: Int) -> Double { 2 * Double(m) * Double(n) * Double(k) }
        let m = rows.positions.reduce(0) { $0 + $1.count }                   // pads included
        // Query row at position p sees keys 0...p; kv_b decompresses each request's prefix up to
        // its last real query row on this process.
        let pairs = rows.positions.joined().compactMap { $0 }.reduce(0) { $0 + $1 + 1 }
        let keys = rows.positions.reduce(0) { $0 + ($1.compactMap { $0 }.max().map { $0 + 1 } ?? 0) }
        var total = 0.0
        for layer in 0..<s.layers {
            if qLoRA {
                total += gemm(m, s.qLora + s.kvLora + s.rope, s.hidden)       // q_a ‖ kv_a (one fused projection)
                total += gemm(m, s.heads * (s.nope + s.rope), s.qLora)       // q_b
            } else {
                total += gemm(m, s.kvLora + s.rope, s.hidden)                 // kv_a
                total += gemm(m, s.heads * (s.nope + s.rope), s.hidden)      // q_proj
            }
            total += gemm(keys, s.heads * (s.nope + s.v), s.kvLora)           // kv_b
            total += 2 * Double(pairs) * Double(s.heads) * Double(s.nope + s.rope)   // QKᵀ
            total += 2 * Double(pairs) * Double(s.heads) * Double(s.v)               // PV
            total += gemm(m, s.hidden, s.heads * s.v)                         // o_proj
            if layer < s.denseLayers {
                total += gemm(m, 2 * s.intermediate, s.hidden) + gemm(m, s.hidden, s.intermediate)   // gate‖up, down
            } else {
                let shared = s.moeIntermediate * s.sharedExperts
                total += gemm(m, s.routedExperts, s.hidden)                                          // router
                total += gemm(m, 2 * shared, s.hidden) + gemm(m, s.hidden, shared)                   // shared expert
                total += gemm(m * s.topK, 2 * s.moeIntermediate, s.hidden)                           // routed: every row
                total += gemm(m * s.topK, s.hidden, s.moeIntermediate)                               // in top-k experts
            }
        }
        if rows.computesLogits { total += gemm(rows.positions.count, s.vocab, s.hidden) }   // lm_head, last row of each
        return total
    }

    static func contiguous(_ range: Range<Int>) -> [Int?] { range.map { $0 } }

    func testHandShapesMatchTheBuiltinConfigs() throws {
        for (model, s) in [(BuiltinModel.tiny, Self.tiny), (.bench, Self.bench)] {
            let c = try Self.config(model)
            XCTAssertEqual([c.vocabSize, c.hiddenSize, c.intermediateSize, c.numHiddenLayers, c.numAttentionHeads, c.qLoraRank ?? 0,
                            c.kvLoraRank, c.qkRopeHeadDim, c.qkNopeHeadDim, c.vHeadDim],
                           [s.vocab, s.hidden, s.intermediate, s.layers, s.heads, s.qLora, s.kvLora, s.rope, s.nope, s.v], "\(model)")
            XCTAssertEqual((0..<s.layers).filter { !c.isMoELayer($0) }.count, s.denseLayers, "\(model)")
            XCTAssertEqual([c.moeIntermediateSize ?? 0, c.routedExperts, c.numExpertsPerTok ?? 0, c.nSharedExperts ?? 0],
                           [s.moeIntermediate, s.routedExperts, s.topK, s.sharedExperts], "\(model)")
        }
    }

    /// Two figures worked out on paper: tiny at 1 token, and bench at 4096 (BENCHMARKS.md's 1980.2 GFLOP).
    func testKnownTotals() throws {
        XCTAssertEqual(ForwardFlops.prefill(try Self.config(.tiny), tokens: 1), 314_496)
        XCTAssertEqual(ForwardFlops.prefill(try Self.config(.bench), tokens: 4096), 1_980_194_881_536)
    }

    func testOneRankPrefillMatchesTheGEMMCount() throws {
        for (model, s, lengths) in [(BuiltinModel.tiny, Self.tiny, [1, 2, 5, 97, 300]), (.bench, Self.bench, [1, 7, 512, 1024, 2048, 4096])] {
            let c = try Self.config(model)
            for n in lengths {
                XCTAssertEqual(ForwardFlops.prefill(c, tokens: n), Self.handCount(s, Rows(positions: [Self.contiguous(0..<n)], computesLogits: true)),
                               "\(model) \(n) tokens")
            }
        }
    }

    func testWithoutQLoRAThePromptIsProjectedDirectly() throws {
        let c = try Self.config(.tiny, removing: ["q_lora_rank"])
        for n in [1, 33] {
            XCTAssertEqual(ForwardFlops.prefill(c, tokens: n),
                           Self.handCount(Self.tiny, Rows(positions: [Self.contiguous(0..<n)], computesLogits: true), qLoRA: false))
        }
    }

    /// Chunked prefill: each chunk's rows attend to the cached prefix too, and decompress it.
    func testChunkedPrefillCountsTheCachedPrefix() throws {
        let c = try Self.config(.tiny)
        let n = 300, chunk = 128
        var start = 0
        while start < n {
            let count = min(chunk, n - start)
            let last = start + count == n
            let layout = PrefillLayout.singleRank(newTokens: [[Int32](repeating: 5, count: count)], cachedPrefix: [start])
            XCTAssertEqual(ForwardFlops.prefill(c, layout: layout, computesLogits: last),
                           Self.handCount(Self.tiny, Rows(positions: [Self.contiguous(start..<start + count)], computesLogits: last)),
                           "chunk at \(start)")
            start += count
        }
        // A batch of two requests, the second with a cached prefix.
        let layout = PrefillLayout.singleRank(newTokens: [[1, 2, 3], [4, 5]], cachedPrefix: [0, 10])
        XCTAssertEqual(ForwardFlops.prefill(c, layout: layout, computesLogits: true),
                       Self.handCount(Self.tiny, Rows(positions: [Self.contiguous(0..<3), Self.contiguous(10..<12)], computesLogits: true)))
    }

    /// PCP: each rank computes its head and tail rows (pads included) and attends from the real
    /// ones; rank 0 computes the logits. Rows are read from the shard plan, one by one.
    func testPCPRanksMatchTheirRowsOfTheShardPlan() throws {
        for (model, s) in [(BuiltinModel.tiny, Self.tiny), (.bench, Self.bench)] {
            let c = try Self.config(model)
            let uneven = c.decompressionCostInPairs * 0.72                    // uneven head/tail splits, as the engine plans them
            for (lengths, ranks, keyCost) in [([4096], 2, 0), ([4096], 2, uneven), ([37], 3, 0), ([5, 40, 1], 2, 0), ([1000, 3], 4, uneven)]
            where model == .bench || lengths.max()! < 2048 {
                let plan = ShardPlan(lengths: lengths, ranks: ranks, keyCost: keyCost)
                let prompts = lengths.map { [Int32](repeating: 7, count: $0) }
                for r in 0..<ranks {
                    let positions: [[Int?]] = lengths.indices.map { i in
                        (0..<(plan.headSize(request: i, rank: r) + plan.tailSize(request: i, rank: r))).map { j in
                            let p = plan.globalPosition(request: i, localRow: j, rank: r)
                            return p < lengths[i] ? p : nil
                        }
                    }
                    let flops = ForwardFlops.prefill(c, layout: plan.layout(rank: r, newTokens: prompts), computesLogits: r == 0)
                    XCTAssertEqual(flops, Self.handCount(s, Rows(positions: positions, computesLogits: r == 0)),
                                   "\(model) lengths \(lengths) rank \(r) of \(ranks)")
                }
            }
        }
    }
}

