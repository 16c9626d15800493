/// Where one batch's rows live under PCP with `ranks` ranks (dual-chunk swap, DESIGN §3).
///
/// Request i (n_i tokens) is padded at its tail to 2P·c_i positions, c_i = ceil(n_i / 2P), and cut
/// into 2P chunks. Rank r owns chunk r ("head") and chunk 2P-1-r ("tail"); chunks in position
/// order are head_0 … head_{P-1}, tail_{P-1} … tail_0. Every rank holds 2·c_i rows of the request
/// (so one equal-count all-gather serves the batch): a head of h_{i,r} rows and a tail of
/// 2c_i − h_{i,r}. Pads (positions ≥ n_i) are only ever at the end, after every real position, so
/// no real query can see them.
///
/// With `keyCost` = 0 every chunk has c_i rows: plain dual-chunk swap, balanced causal work.
/// With `keyCost` = κ > 0 the head/tail split is chosen to balance causal work + κ · (keys the
/// rank decompresses): under MLA every rank decompresses (kv_b) the key prefix its tail can see,
/// so with equal chunks rank 0 (whose tail ends the prompt) carries the most decompression — the
/// heavier the more ranks. Shifting a few rows from its tail into its head moves causal work to
/// the other ranks and evens the total (κ in units of one query·key pair of attention; the engine
/// passes `PrefillEngine.keyCostInPairs`, the FLOP ratio `DeepSeekConfig.decompressionCostInPairs`
/// scaled to time).
public struct ShardPlan: Sendable, Equatable {
    public let ranks: Int
    public let lengths: [Int]
    public let chunkSizes: [Int]      // c_i = ceil(n_i / 2P): rank r holds 2·c_i rows of request i
    public let keyCost: Double
    /// headSizes[i][r] = h_{i,r}: rows of rank r's head chunk (its tail has 2c_i − h_{i,r}).
    public let headSizes: [[Int]]
    public let rowsPerRank: Int       // Σ_i 2·c_i (same on every rank)
    /// restoreMap[k] = row of the rank-major gathered buffer [P][rowsPerRank] holding the k-th
    /// restored row; restored rows are request-major, positions 0..<n_i (pads dropped). count = Σ n_i.
    public let restoreMap: [Int32]
    private let localOffsets: [Int]     // [requests + 1] prefix sums of 2·c_i
    private let restoredOffsets: [Int]  // [requests + 1] prefix sums of n_i
    private let headStarts: [[Int]]     // [request][rank] first position of rank r's head
    private let tailStarts: [[Int]]     // [request][rank] first position of rank r's tail

    /// lengths: per-request prompt lengths (each ≥ 1, may be empty); ranks: P ≥ 1;
    /// keyCost: cost of decompressing one key in query·key pairs (0: equal chunks).
    public init(lengths: [Int], ranks: Int, keyCost: Double = 0) {
        precondition(ranks >= 1, "ShardPlan: ranks \(ranks) must be ≥ 1")
        precondition(keyCost >= 0 && keyCost.isFinite, "ShardPlan: keyCost \(keyCost) must be finite and ≥ 0")
        for (i, n) in lengths.enumerated() {
            precondition(n >= 1, "ShardPlan: request \(i) has length \(n), expected ≥ 1")
        }
        self.ranks = ranks
        self.lengths = lengths
        self.keyCost = keyCost
        chunkSizes = lengths.map { ($0 + 2 * ranks - 1) / (2 * ranks) }
        headSizes = zip(lengths, chunkSizes).map { n, c in
            ShardPlan.balancedHeads(length: n, chunk: c, ranks: ranks, keyCost: keyCost)
        }
        let starts = zip(headSizes, chunkSizes).map { ShardPlan.starts(heads: $0, chunk: $1) }
        headStarts = starts.map(\.heads)
        tailStarts = starts.map(\.tails)
        var local = [0], restored = [0]
        for (c, n) in zip(chunkSizes, lengths) {
            local.append(local.last! + 2 * c)
            restored.append(restored.last! + n)
        }
        localOffsets = local
        restoredOffsets = restored
        rowsPerRank = local.last!
        let perRank = rowsPerRank
        precondition(ranks * perRank <= Int(Int32.max), "ShardPlan: \(ranks * perRank) gathered rows overflow Int32 indices")
        var map = [Int32](repeating: -1, count: restored.last!)
        for (i, n) in lengths.enumerated() {
            for r in 0..<ranks {
                let h = headSizes[i][r]
                for j in 0..<2 * chunkSizes[i] {
                    let g = j < h ? headStarts[i][r] + j : tailStarts[i][r] + (j - h)
                    if g < n { map[restored[i] + g] = Int32(r * perRank + local[i] + j) }
                }
            }
        }
        restoreMap = map
    }

    /// First positions of each rank's head and tail for head sizes `heads` (tails 2c − h).
    private static func starts(heads: [Int], chunk c: Int) -> (heads: [Int], tails: [Int]) {
        var headStart = [Int](), tailStart = [Int](), position = 0, end = 2 * heads.count * c
        for h in heads {
            headStart.append(position)
            position += h
            end -= 2 * c - h
            tailStart.append(end)
        }
        return (headStart, tailStart)
    }

    /// Modelled cost per rank of one request: causal pairs of its real query rows + keyCost · the
    /// keys it decompresses (the prefix its real rows see). Linear layers cost the same on every
    /// rank (2c rows each), so they are left out.
    static func modelledCosts(heads: [Int], length n: Int, chunk c: Int, keyCost: Double) -> [Double] {
        let (headStart, tailStart) = starts(heads: heads, chunk: c)
        return heads.indices.map { r in
            let blocks = [(headStart[r], heads[r]), (tailStart[r], 2 * c - heads[r])]
            var pairs = 0, keys = 0
            for (first, rows) in blocks {
                let real = max(0, min(rows, n - first))
                guard real > 0 else { continue }
                pairs += blockWork(first: first, rows: real)
                keys = max(keys, first + real)
            }
            return Double(pairs) + keyCost * Double(keys)
        }
    }

    /// Head sizes minimising the largest modelled cost (then the spread): equal chunks when
    /// keyCost is 0, else a deterministic descent from equal chunks over moves of h_r by ±step,
    /// step halving from the largest power of two ≤ c down to 1. Only strict improvements are
    /// taken, so the result is never worse than equal chunks under the model. Every rank computes
    /// the same plan (same inputs, same arithmetic).
    static func balancedHeads(length n: Int, chunk c: Int, ranks: Int, keyCost: Double) -> [Int] {
        var heads = [Int](repeating: c, count: ranks)
        guard keyCost > 0, ranks > 1, c > 1 else { return heads }
        func score(_ h: [Int]) -> (Double, Double) {
            let costs = modelledCosts(heads: h, length: n, chunk: c, keyCost: keyCost)
            let mean = costs.reduce(0, +) / Double(costs.count)
            return (costs.max()!, costs.reduce(0) { $0 + ($1 - mean) * ($1 - mean) })
        }
        var best = score(heads)
        var step = 1
        while step * 2 <= c { step *= 2 }
        while step >= 1 {
            var improved = true, rounds = 0
            while improved && rounds < 64 {
                improved = false
                rounds += 1
                for r in 0..<ranks {
                    for delta in [step, -step] where (1...(2 * c - 1)).contains(heads[r] + delta) {
                        heads[r] += delta
                        let candidate = score(heads)
                        if candidate < best {
                            best = candidate
                            improved = true
                        } else {
                            heads[r] -= delta
                        }
                    }
                }
            }
            step /= 2
        }
        return heads
    }

    public var requestCount: Int { lengths.count }
    /// Σ n_i: rows after restore.
    public var totalLength: Int { restoredOffsets.last! }

    /// Where request i's 2c_i rows start in a rank's local rows (head chunk, then tail chunk).
    public func localRowOffset(request: Int) -> Int { localOffsets[request] }

    /// Σ_{j<i} n_j: where request i starts in the restored rows.
    public func restoredRowOffset(request: Int) -> Int { restoredOffsets[request] }

    /// Rows of rank r's head chunk of request i.
    public func headSize(request: Int, rank: Int) -> Int { headSizes[request][rank] }

    /// Rows of rank r's tail chunk of request i.
    public func tailSize(request: Int, rank: Int) -> Int { 2 * chunkSizes[request] - headSizes[request][rank] }

    /// First global (padded) position of rank r's head chunk of request i.
    public func headFirstPosition(request: Int, rank: Int) -> Int { headStarts[request][rank] }

    /// First global (padded) position of rank r's tail chunk of request i.
    public func tailFirstPosition(request: Int, rank: Int) -> Int { tailStarts[request][rank] }

    /// Global (padded) position of local row j (0..<2c_i: head rows, then tail rows) of request i on rank r.
    public func globalPosition(request: Int, localRow: Int, rank: Int) -> Int {
        let h = headSizes[request][rank]
        return localRow < h ? headStarts[request][rank] + localRow : tailStarts[request][rank] + (localRow - h)
    }

    /// True when that local row is a pad (global position ≥ n_i).
    public func isPad(request: Int, localRow: Int, rank: Int) -> Bool {
        globalPosition(request: request, localRow: localRow, rank: rank) >= lengths[request]
    }

    /// Real (non-pad) query rows of rank r's head chunk: they are its first rows, pads follow.
    public func headRealRows(request: Int, rank: Int) -> Int {
        realRows(request: request, first: headFirstPosition(request: request, rank: rank), rows: headSize(request: request, rank: rank))
    }

    /// Real (non-pad) query rows of rank r's tail chunk: they are its first rows, pads follow.
    public func tailRealRows(request: Int, rank: Int) -> Int {
        realRows(request: request, first: tailFirstPosition(request: request, rank: rank), rows: tailSize(request: request, rank: rank))
    }

    /// Keys the head block may need: [0, min(end of the head, n_i)).
    ///
    /// Mask: query row j of the block (position p = first + j) sees key k iff k ≤ p. When the block
    /// has real rows (headRealRows = q > 0), headKeyCount == headFirstPosition + q, so plain causal
    /// attention over the first q query rows against headKeyCount keys with bottom-right alignment
    /// (k ≤ keyCount − q + j) is exact. Do NOT align the full block (pads included) to the clipped
    /// count: bottom-right alignment of the padded block needs the padded end.
    /// When q == 0 the block has nothing to compute (the count is then n_i ≤ its first position).
    public func headKeyCount(request: Int, rank: Int) -> Int {
        min(headFirstPosition(request: request, rank: rank) + headSize(request: request, rank: rank), lengths[request])
    }

    /// Keys the tail block may need: [0, min(end of the tail, n_i)); same mask rules as
    /// `headKeyCount` with tailFirstPosition and tailRealRows.
    public func tailKeyCount(request: Int, rank: Int) -> Int {
        min(tailFirstPosition(request: request, rank: rank) + tailSize(request: request, rank: rank), lengths[request])
    }

    /// For the restore: the row of the rank-major gathered buffer [P][rowsPerRank] holding real
    /// position t < n_i of request i.
    public func gatheredRow(request: Int, position: Int) -> Int {
        Int(restoreMap[restoredOffsets[request] + position])
    }

    /// Modelled cost of rank r over the batch: causal pairs + keyCost · decompressed keys, the
    /// quantity the head/tail split balances.
    public func modelledCost(rank: Int) -> Double {
        lengths.indices.reduce(0) {
            $0 + ShardPlan.modelledCosts(heads: headSizes[$1], length: lengths[$1], chunk: chunkSizes[$1], keyCost: keyCost)[rank]
        }
    }

    /// Causal work of rank r: Σ over its real query rows at position p of the p + 1 real keys
    /// visible to it. See `causalWorkImbalanceBound` for how evenly it is spread (keyCost = 0).
    public func causalWork(rank: Int) -> Int {
        var work = 0
        for i in 0..<lengths.count {
            work += Self.blockWork(first: headFirstPosition(request: i, rank: rank), rows: headRealRows(request: i, rank: rank))
            work += Self.blockWork(first: tailFirstPosition(request: i, rank: rank), rows: tailRealRows(request: i, rank: rank))
        }
        return work
    }

    /// Proven bound, for plans with keyCost = 0 (equal chunks), on max_r causalWork(r) −
    /// min_r causalWork(r):  Σ_i R_i with
    /// R_i = Σ_{p=n_i}^{2P·c_i−1} (p+1), the work pads would carry if they were real.
    ///
    /// Proof: with every padded position counted as real, rank r's work on request i is
    /// c·rc + c(c+1)/2 (head) + c·(2P−1−r)c + c(c+1)/2 (tail) = 2P·c² + c — the same on every rank.
    /// Real work = that − (work of the pads in r's chunks), and 0 ≤ pad work of r ≤ R_i, so per
    /// request the spread is ≤ R_i; work adds over requests, so the batch spread is ≤ Σ_i R_i.
    /// Since pads number m_i = 2P·c_i − n_i ≤ 2P−1 and each costs ≤ 2P·c_i: R_i ≤ (2P−1)·2P·c_i,
    /// and when c_i ≥ 2P−1 also R_i ≤ c_i·2P·c_i, i.e. at most one (heaviest) chunk's worth.
    /// The bound is 0 (exact balance) when every n_i is a multiple of 2P.
    public var causalWorkImbalanceBound: Int {
        var bound = 0
        for (i, n) in lengths.enumerated() {
            let end = 2 * ranks * chunkSizes[i]
            bound += Self.blockWork(first: n, rows: end - n)
        }
        return bound
    }

    private func realRows(request: Int, first: Int, rows: Int) -> Int {
        max(0, min(rows, lengths[request] - first))
    }

    /// Σ_{p=first}^{first+rows−1} (p + 1): the causal pairs of `rows` query rows from `first` on.
    private static func blockWork(first: Int, rows: Int) -> Int {
        rows * first + rows * (rows + 1) / 2
    }
}
