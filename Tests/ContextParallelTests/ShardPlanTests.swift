import Tensors
import XCTest
@testable import ContextParallel

final class ShardPlanTests: XCTestCase {
    /// Single requests {1, 2P-1, 2P, 2P+1, 97, 300}, all of them as one batch, and seeded random batches.
    private func batches(ranks p: Int) -> [[Int]] {
        let singles = [1, 2 * p - 1, 2 * p, 2 * p + 1, 97, 300].filter { $0 >= 1 }
        var rng = SeededRandom(seed: UInt64(p))
        let random = (0..<12).map { _ in (0..<Int(1 + rng.next() % 6)).map { _ in Int(1 + rng.next() % 200) } }
        return singles.map { [$0] } + [singles] + random
    }

    /// Every batch as plain dual-chunk swap (keyCost 0) and with balanced head/tail splits (a small
    /// and a DeepSeek-sized decompression cost).
    private func plans(ranks p: Int) -> [ShardPlan] {
        batches(ranks: p).flatMap { lengths in [0, 3.5, 409.6].map { ShardPlan(lengths: lengths, ranks: p, keyCost: $0) } }
    }

    func testHandWorkedExample() {
        // P = 2, n = 5: c = 2, chunks [0,1] [2,3] [4,5] [6,7]; rank 0 owns chunks 0 and 3, rank 1 chunks 1 and 2.
        let plan = ShardPlan(lengths: [5], ranks: 2)
        XCTAssertEqual(plan.chunkSizes, [2])
        XCTAssertEqual(plan.rowsPerRank, 4)
        XCTAssertEqual((0..<4).map { plan.globalPosition(request: 0, localRow: $0, rank: 0) }, [0, 1, 6, 7])
        XCTAssertEqual((0..<4).map { plan.globalPosition(request: 0, localRow: $0, rank: 1) }, [2, 3, 4, 5])
        XCTAssertEqual(plan.restoreMap, [0, 1, 4, 5, 6])
        XCTAssertEqual([plan.headRealRows(request: 0, rank: 0), plan.tailRealRows(request: 0, rank: 0)], [2, 0])
        XCTAssertEqual([plan.headRealRows(request: 0, rank: 1), plan.tailRealRows(request: 0, rank: 1)], [2, 1])
        XCTAssertEqual([plan.headKeyCount(request: 0, rank: 1), plan.tailKeyCount(request: 0, rank: 1)], [4, 5])
        XCTAssertEqual([plan.causalWork(rank: 0), plan.causalWork(rank: 1)], [1 + 2, 3 + 4 + 5])
        XCTAssertEqual(plan.causalWorkImbalanceBound, 6 + 7 + 8)
    }

    func testLayoutOffsetsAndTwoRequests() {
        let plan = ShardPlan(lengths: [3, 9], ranks: 2)   // c = 1 and 3
        XCTAssertEqual(plan.rowsPerRank, 2 + 6)
        XCTAssertEqual([plan.localRowOffset(request: 0), plan.localRowOffset(request: 1)], [0, 2])
        XCTAssertEqual([plan.restoredRowOffset(request: 0), plan.restoredRowOffset(request: 1)], [0, 3])
        XCTAssertEqual(plan.restoreMap.count, 12)
        XCTAssertEqual(plan.gatheredRow(request: 1, position: 8), 1 * 8 + 2 + 3 + 2)  // chunk 2 = rank 1's tail, row 2
    }

    func testEveryRealPositionIsOwnedExactlyOnceAndPadsTrailTheirRequest() {
        for p in 1...4 {
            for plan in plans(ranks: p) {
                let lengths = plan.lengths
                XCTAssertEqual(plan.rowsPerRank, plan.chunkSizes.reduce(0) { $0 + 2 * $1 })
                for (i, n) in lengths.enumerated() {
                    let c = plan.chunkSizes[i]
                    XCTAssertEqual(c, (n + 2 * p - 1) / (2 * p))
                    var owners = [Int](repeating: 0, count: 2 * p * c)
                    var pads = 0
                    for r in 0..<p {
                        for j in 0..<2 * c {
                            let g = plan.globalPosition(request: i, localRow: j, rank: r)
                            owners[g] += 1
                            XCTAssertEqual(plan.isPad(request: i, localRow: j, rank: r), g >= n)
                            if g >= n { pads += 1 } else {
                                XCTAssertEqual(plan.gatheredRow(request: i, position: g), r * plan.rowsPerRank + plan.localRowOffset(request: i) + j)
                            }
                        }
                    }
                    XCTAssertEqual(owners, Array(repeating: 1, count: 2 * p * c), "P \(p) n \(n): padded positions owned once each")
                    XCTAssertEqual(pads, 2 * p * c - n)
                    XCTAssertLessThan(pads, 2 * p)
                }
            }
        }
    }

    func testRestoreMapIsInjectiveAndNeverPointsAtPads() {
        for p in 1...4 {
            for plan in plans(ranks: p) {
                let lengths = plan.lengths
                XCTAssertEqual(plan.restoreMap.count, lengths.reduce(0, +))
                XCTAssertEqual(Set(plan.restoreMap).count, plan.restoreMap.count)
                var k = 0
                for (i, n) in lengths.enumerated() {
                    XCTAssertEqual(plan.restoredRowOffset(request: i), k)
                    for t in 0..<n {
                        let row = Int(plan.restoreMap[k]), r = row / plan.rowsPerRank, local = row % plan.rowsPerRank
                        let j = local - plan.localRowOffset(request: i)
                        XCTAssertTrue((0..<2 * plan.chunkSizes[i]).contains(j), "row lands inside request \(i)'s rows")
                        XCTAssertFalse(plan.isPad(request: i, localRow: j, rank: r))
                        XCTAssertEqual(plan.globalPosition(request: i, localRow: j, rank: r), t)
                        k += 1
                    }
                }
            }
        }
    }

    func testSplitGatherRestoreReproducesTheInputExactly() throws {
        let width = 3
        for p in 1...4 {
            let group = InProcessGroup(size: p, timeoutSeconds: 60)
            for plan in plans(ranks: p) {
                let lengths = plan.lengths
                var rng = SeededRandom(seed: UInt64(lengths.reduce(p, +)))
                let input = (0..<plan.totalLength * width).map { _ in Float(bitPattern: UInt32(truncatingIfNeeded: rng.next() >> 40) | 0x3F80_0000) }
                let outputs = try group.run { comm -> [Float] in
                    var local = [Float](repeating: .nan, count: plan.rowsPerRank * width)  // pads stay NaN
                    for (i, n) in lengths.enumerated() {
                        for j in 0..<2 * plan.chunkSizes[i] {
                            let t = plan.globalPosition(request: i, localRow: j, rank: comm.rank)
                            guard t < n else { continue }
                            for col in 0..<width {
                                local[(plan.localRowOffset(request: i) + j) * width + col] = input[(plan.restoredRowOffset(request: i) + t) * width + col]
                            }
                        }
                    }
                    var scratch = [Float](repeating: 0, count: p * plan.rowsPerRank * width)
                    var out = [Float](repeating: -7, count: plan.totalLength * width)
                    try local.withUnsafeBufferPointer { l in
                        try scratch.withUnsafeMutableBufferPointer { s in
                            try out.withUnsafeMutableBufferPointer {
                                try allGatherAndRestore(local: l, rowWidth: width, plan: plan, communicator: comm, gatherScratch: s, into: $0)
                            }
                        }
                    }
                    return out
                }
                for (r, out) in outputs.enumerated() {
                    XCTAssertEqual(out.map(\.bitPattern), input.map(\.bitPattern), "P \(p) rank \(r) lengths \(lengths)")
                }
            }
        }
    }

    func testAllGatherAndRestoreRejectsWrongSizesOnEveryRank() {
        let plan = ShardPlan(lengths: [5], ranks: 2)
        let results = InProcessGroup(size: 2, timeoutSeconds: 20).runEach { comm -> Void in
            let local = [Float](repeating: 0, count: plan.rowsPerRank * 2)
            var scratch = [Float](repeating: 0, count: 2 * plan.rowsPerRank * 2 - 1)   // one float short
            var out = [Float](repeating: 0, count: 5 * 2)
            try local.withUnsafeBufferPointer { l in
                try scratch.withUnsafeMutableBufferPointer { s in
                    try out.withUnsafeMutableBufferPointer {
                        try allGatherAndRestore(local: l, rowWidth: 2, plan: plan, communicator: comm, gatherScratch: s, into: $0)
                    }
                }
            }
        }
        for result in results {
            guard case .failure(CommunicatorError.sizeMismatch) = result else { return XCTFail("got \(result)") }
        }
        XCTAssertThrowsError(try allGatherAndRestore(local: UnsafeBufferPointer(start: nil, count: 0), rowWidth: 1, plan: plan,
                                                     communicator: SingleRankCommunicator(),
                                                     gatherScratch: UnsafeMutableBufferPointer(start: nil, count: 0),
                                                     into: UnsafeMutableBufferPointer(start: nil, count: 0)))
    }

    /// Brute force: build the causal mask of real positions and compare with the plan's counts.
    func testKeyCountsAndRealRowsMatchBruteForceMask() {
        for p in 1...4 {
            for plan in plans(ranks: p) {
                let lengths = plan.lengths
                for (i, n) in lengths.enumerated() {
                    let c = plan.chunkSizes[i]
                    for r in 0..<p {
                        let h = plan.headSize(request: i, rank: r)
                        XCTAssertEqual(h + plan.tailSize(request: i, rank: r), 2 * c)
                        let blocks = [
                            (first: plan.headFirstPosition(request: i, rank: r), real: plan.headRealRows(request: i, rank: r),
                             keys: plan.headKeyCount(request: i, rank: r), localStart: 0, size: h),
                            (first: plan.tailFirstPosition(request: i, rank: r), real: plan.tailRealRows(request: i, rank: r),
                             keys: plan.tailKeyCount(request: i, rank: r), localStart: h, size: 2 * c - h),
                        ]
                        for block in blocks {
                            let positions = (0..<block.size).map { plan.globalPosition(request: i, localRow: block.localStart + $0, rank: r) }
                            XCTAssertEqual(positions, Array(block.first..<block.first + block.size))
                            let realRows = positions.filter { $0 < n }
                            XCTAssertEqual(block.real, realRows.count)
                            XCTAssertEqual(Array(positions.prefix(block.real)), realRows, "real rows come first, pads trail")
                            // Keys any real query row of the block sees: key k visible to position t iff k ≤ t and k < n.
                            var needed = 0
                            for t in realRows { for k in 0..<n where k <= t { needed = max(needed, k + 1) } }
                            if block.real > 0 {
                                XCTAssertEqual(block.keys, needed, "P \(p) n \(n) rank \(r)")
                                XCTAssertEqual(block.keys, block.first + block.real)
                                // Bottom-right alignment over the real rows reproduces the causal mask exactly.
                                for (j, t) in realRows.enumerated() {
                                    for k in 0..<block.keys { XCTAssertEqual(k <= block.keys - block.real + j, k <= t) }
                                }
                            } else {
                                XCTAssertEqual(block.keys, n)
                                XCTAssertLessThanOrEqual(n, block.first)
                            }
                        }
                        if plan.keyCost == 0 {  // plain dual-chunk swap: chunk k spans [k·c, (k+1)·c)
                            XCTAssertEqual(plan.headKeyCount(request: i, rank: r), min((r + 1) * c, n))
                            XCTAssertEqual(plan.tailKeyCount(request: i, rank: r), min((2 * p - r) * c, n))
                        }
                    }
                }
            }
        }
    }

    func testCausalWorkMatchesBruteForceAndStaysWithinTheProvenBound() {
        for p in 1...4 {
            for plan in plans(ranks: p) {
                let lengths = plan.lengths
                var works: [Int] = []
                for r in 0..<p {
                    var brute = 0
                    for (i, n) in lengths.enumerated() {
                        for j in 0..<2 * plan.chunkSizes[i] {
                            let t = plan.globalPosition(request: i, localRow: j, rank: r)
                            if t < n { brute += (0..<n).filter { $0 <= t }.count }
                        }
                    }
                    XCTAssertEqual(plan.causalWork(rank: r), brute)
                    works.append(brute)
                }
                XCTAssertEqual(works.reduce(0, +), lengths.reduce(0) { $0 + $1 * ($1 + 1) / 2 }, "work is conserved")
                guard plan.keyCost == 0 else { continue }   // the bound is about equal chunks
                let spread = works.max()! - works.min()!
                XCTAssertLessThanOrEqual(spread, plan.causalWorkImbalanceBound, "P \(p) lengths \(lengths) works \(works)")
                for (i, n) in lengths.enumerated() {
                    let c = plan.chunkSizes[i], single = ShardPlan(lengths: [n], ranks: p)
                    XCTAssertLessThanOrEqual(single.causalWorkImbalanceBound, (2 * p - 1) * 2 * p * c)
                    if c >= 2 * p - 1 { XCTAssertLessThanOrEqual(single.causalWorkImbalanceBound, c * 2 * p * c, "one chunk's worth") }
                    if n % (2 * p) == 0 { XCTAssertEqual(single.causalWorkImbalanceBound, 0) }
                }
            }
        }
    }

    func testBalanceIsExactWithoutPadsAndTheBoundIsReachedWhenPadsFillRankZerosTail() {
        for p in 1...4 {
            let exact = ShardPlan(lengths: [2 * p * 7, 2 * p], ranks: p)
            XCTAssertEqual(Set((0..<p).map(exact.causalWork)).count, 1)
            // n = 2P·c − m with m ≤ c: every pad is in chunk 2P−1 (rank 0's tail), so the spread is the whole bound.
            let c = 9, m = 2 * p - 1, tight = ShardPlan(lengths: [2 * p * c - m], ranks: p)
            XCTAssertEqual(tight.chunkSizes, [c])
            let works = (0..<p).map(tight.causalWork)
            if p > 1 { XCTAssertEqual(works.max()! - works.min()!, tight.causalWorkImbalanceBound) }
        }
    }
}

extension ShardPlanTests {
    /// P = 2, n = 4c, heads (c + d, c): rank 0 covers [0, c+d) ∪ [3c+d, 4c) and decompresses 4c
    /// keys, rank 1 covers [c+d, 3c+d) and decompresses 3c + d. Their causal pairs differ by −4cd,
    /// so the costs balance at d = κc / (4c + κ): 93.09 for c = 1024, κ = 409.6.
    func testBalancedSplitMatchesTheClosedFormForTwoRanks() {
        let c = 1024, kappa = 409.6
        let plan = ShardPlan(lengths: [4 * c], ranks: 2, keyCost: kappa)
        let d = kappa * Double(c) / (4 * Double(c) + kappa)
        XCTAssertEqual(Double(plan.headSize(request: 0, rank: 0) - c), d, accuracy: 1)
        XCTAssertEqual(plan.headSize(request: 0, rank: 1), c)
        XCTAssertEqual(plan.tailKeyCount(request: 0, rank: 0), 4 * c)
        XCTAssertEqual(plan.tailKeyCount(request: 0, rank: 1), 3 * c + plan.headSize(request: 0, rank: 0) - c)
        let costs = (0..<2).map(plan.modelledCost)
        XCTAssertLessThanOrEqual(abs(costs[0] - costs[1]), 4 * Double(c) + kappa, "within one row of the balance point")
    }

    /// Each request is balanced on its own: balancing never makes its busiest rank busier than
    /// equal chunks, evens long prompts out to well under 1 % of a rank's modelled cost for any
    /// P, and a batch's costs are the sums of its requests' costs.
    func testBalancedSplitNeverLosesToEqualChunksAndEvensLongPrompts() {
        for p in 1...8 {
            let lengths = Set(batches(ranks: p).joined()).sorted() + [4096, 16384]
            for kappa in [3.5, 409.6, 4000] {
                for n in lengths {
                    let balanced = ShardPlan(lengths: [n], ranks: p, keyCost: kappa)
                    let equal = ShardPlan.modelledCosts(heads: [Int](repeating: balanced.chunkSizes[0], count: p), length: n,
                                                        chunk: balanced.chunkSizes[0], keyCost: kappa)
                    let modelled = (0..<p).map(balanced.modelledCost)
                    XCTAssertLessThanOrEqual(modelled.max()!, equal.max()!, "P \(p) n \(n) κ \(kappa)")
                    if p > 1, n >= 4096 {
                        let mean = modelled.reduce(0, +) / Double(p)
                        XCTAssertLessThan((modelled.max()! - modelled.min()!) / mean, 0.01, "P \(p) n \(n) κ \(kappa): \(modelled)")
                    }
                }
                let batch = ShardPlan(lengths: [3000, 17, 5000], ranks: p, keyCost: kappa)
                for r in 0..<p {
                    let sum = batch.lengths.reduce(0.0) { $0 + ShardPlan(lengths: [$1], ranks: p, keyCost: kappa).modelledCost(rank: r) }
                    XCTAssertEqual(batch.modelledCost(rank: r), sum, accuracy: 1e-6)
                }
            }
        }
    }
}
