/// Where one batch's rows live under PCP with `ranks` ranks (dual-chunk swap, DESIGN §3).
///
/// Request i (n_i tokens) is padded at its tail to 2P·c_i positions, c_i = ceil(n_i / 2P), and cut
/// into 2P chunks of c_i positions. Rank r owns chunk r ("head", positions [r·c, (r+1)·c)) and
/// chunk 2P-1-r ("tail", positions [(2P-1-r)·c, (2P-r)·c)). Pads (positions ≥ n_i) are only ever
/// in the last chunks, after every real position, so no real query can see them.
public struct ShardPlan: Sendable, Equatable {
    public let ranks: Int
    public let lengths: [Int]
    public let chunkSizes: [Int]      // c_i = ceil(n_i / 2P)
    public let rowsPerRank: Int       // Σ_i 2·c_i (same on every rank)
    /// restoreMap[k] = row of the rank-major gathered buffer [P][rowsPerRank] holding the k-th
    /// restored row; restored rows are request-major, positions 0..<n_i (pads dropped). count = Σ n_i.
    public let restoreMap: [Int32]
    private let localOffsets: [Int]     // [requests + 1] prefix sums of 2·c_i
    private let restoredOffsets: [Int]  // [requests + 1] prefix sums of n_i

    /// lengths: per-request prompt lengths (each ≥ 1, may be empty); ranks: P ≥ 1.
    public init(lengths: [Int], ranks: Int) {
        precondition(ranks >= 1, "ShardPlan: ranks \(ranks) must be ≥ 1")
        for (i, n) in lengths.enumerated() {
            precondition(n >= 1, "ShardPlan: request \(i) has length \(n), expected ≥ 1")
        }
        self.ranks = ranks
        self.lengths = lengths
        chunkSizes = lengths.map { ($0 + 2 * ranks - 1) / (2 * ranks) }
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
        var map = [Int32]()
        map.reserveCapacity(restored.last!)
        for (i, n) in lengths.enumerated() {
            let c = chunkSizes[i]
            for t in 0..<n {
                let chunk = t / c, j = t % c
                let (owner, row) = chunk < ranks ? (chunk, j) : (2 * ranks - 1 - chunk, c + j)
                map.append(Int32(owner * perRank + local[i] + row))
            }
        }
        restoreMap = map
    }

    public var requestCount: Int { lengths.count }
    /// Σ n_i: rows after restore.
    public var totalLength: Int { restoredOffsets.last! }

    /// Where request i's 2c_i rows start in a rank's local rows (head chunk, then tail chunk).
    public func localRowOffset(request: Int) -> Int { localOffsets[request] }

    /// Σ_{j<i} n_j: where request i starts in the restored rows.
    public func restoredRowOffset(request: Int) -> Int { restoredOffsets[request] }

    /// First global (padded) position of rank r's head chunk of request i: r·c_i.
    public func headFirstPosition(request: Int, rank: Int) -> Int { rank * chunkSizes[request] }

    /// First global (padded) position of rank r's tail chunk of request i: (2P-1-r)·c_i.
    public func tailFirstPosition(request: Int, rank: Int) -> Int { (2 * ranks - 1 - rank) * chunkSizes[request] }

    /// Global (padded) position of local row j (0..<2c_i) of request i on rank r.
    public func globalPosition(request: Int, localRow: Int, rank: Int) -> Int {
        let c = chunkSizes[request]
        return localRow < c ? rank * c + localRow : (2 * ranks - 1 - rank) * c + (localRow - c)
    }

    /// True when that local row is a pad (global position ≥ n_i).
    public func isPad(request: Int, localRow: Int, rank: Int) -> Bool {
        globalPosition(request: request, localRow: localRow, rank: rank) >= lengths[request]
    }

    /// Real (non-pad) query rows of rank r's head chunk: they are its first rows, pads follow.
    public func headRealRows(request: Int, rank: Int) -> Int {
        realRows(request: request, first: headFirstPosition(request: request, rank: rank))
    }

    /// Real (non-pad) query rows of rank r's tail chunk: they are its first rows, pads follow.
    public func tailRealRows(request: Int, rank: Int) -> Int {
        realRows(request: request, first: tailFirstPosition(request: request, rank: rank))
    }

    /// Keys the head block may need: [0, min((r+1)·c_i, n_i)).
    ///
    /// Mask: query row j of the block (position p = r·c_i + j) sees key k iff k ≤ p. When the block
    /// has real rows (headRealRows = q > 0), headKeyCount == headFirstPosition + q, so plain causal
    /// attention over the first q query rows against headKeyCount keys with bottom-right alignment
    /// (k ≤ keyCount − q + j) is exact. Do NOT align the full c_i-row block (pads included) to the
    /// clipped count: bottom-right alignment of the padded block needs the padded end (r+1)·c_i.
    /// When q == 0 the block has nothing to compute (the count is then n_i ≤ its first position).
    public func headKeyCount(request: Int, rank: Int) -> Int {
        min((rank + 1) * chunkSizes[request], lengths[request])
    }

    /// Keys the tail block may need: [0, min((2P-r)·c_i, n_i)); same mask rules as `headKeyCount`
    /// with tailFirstPosition and tailRealRows.
    public func tailKeyCount(request: Int, rank: Int) -> Int {
        min((2 * ranks - rank) * chunkSizes[request], lengths[request])
    }

    /// For the restore: the row of the rank-major gathered buffer [P][rowsPerRank] holding real
    /// position t < n_i of request i.
    public func gatheredRow(request: Int, position: Int) -> Int {
        Int(restoreMap[restoredOffsets[request] + position])
    }

    /// Causal work of rank r: Σ over its real query rows at position p of the p + 1 real keys
    /// visible to it. See `causalWorkImbalanceBound` for how evenly it is spread.
    public func causalWork(rank: Int) -> Int {
        var work = 0
        for i in 0..<lengths.count {
            work += blockWork(first: headFirstPosition(request: i, rank: rank), rows: headRealRows(request: i, rank: rank))
            work += blockWork(first: tailFirstPosition(request: i, rank: rank), rows: tailRealRows(request: i, rank: rank))
        }
        return work
    }

    /// Proven bound on max_r causalWork(r) − min_r causalWork(r):  Σ_i R_i with
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
            bound += blockWork(first: n, rows: end - n)
        }
        return bound
    }

    private func realRows(request: Int, first: Int) -> Int {
        max(0, min(chunkSizes[request], lengths[request] - first))
    }

    /// Σ_{p=first}^{first+rows−1} (p + 1).
    private func blockWork(first: Int, rows: Int) -> Int {
        rows * first + rows * (rows + 1) / 2
    }
}
