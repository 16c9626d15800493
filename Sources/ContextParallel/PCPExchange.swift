import DeepSeekModel
import Kernels

/// The model's latent-exchange hook under PCP: one all-gather of the whole batch's latent rows per
/// layer (c_kv ‖ k_pe together, never one per request or per part), then one index map restores
/// position order. Final hidden rows of each request's last position go to rank 0.
public final class PCPExchange: LatentExchange {
    public let communicator: Communicator
    public let plan: ShardPlan
    public private(set) var latentGathers = 0
    public private(set) var bytesGathered = 0          // bytes received by this rank's latent all-gathers
    public private(set) var gatherSeconds = 0.0
    private let gatherScratch = Scratch(), restored = Scratch(), lastRowsScratch = Scratch()

    public init(communicator: Communicator, plan: ShardPlan) {
        self.communicator = communicator
        self.plan = plan
    }

    public func gatherLatent(layer: Int, local: UnsafePointer<Float>, layout: PrefillLayout, rowWidth: Int) throws -> UnsafePointer<Float> {
        let start = monotonicSeconds()
        let out = try gatherAndRestore(local, layout: layout, width: rowWidth)
        latentGathers += 1
        bytesGathered += plan.ranks * plan.rowsPerRank * rowWidth * MemoryLayout<Float>.size
        gatherSeconds += monotonicSeconds() - start
        return out
    }

    /// The same all-gather and restore, for per-position results (prompt logprobs); not counted as a latent gather.
    public func gatherPositionRows(_ local: UnsafePointer<Float>, layout: PrefillLayout, width: Int) throws -> UnsafePointer<Float> {
        try gatherAndRestore(local, layout: layout, width: width)
    }

    private func gatherAndRestore(_ local: UnsafePointer<Float>, layout: PrefillLayout, width: Int) throws -> UnsafePointer<Float> {
        guard layout.localRows == plan.rowsPerRank else {
            throw CommunicatorError.sizeMismatch("layout has \(layout.localRows) local rows, shard plan \(plan.rowsPerRank)")
        }
        let gatheredCount = plan.ranks * plan.rowsPerRank * width
        let scratch = UnsafeMutableBufferPointer(start: gatherScratch.reserve(gatheredCount), count: gatheredCount)
        let outCount = plan.restoreMap.count * width
        let out = UnsafeMutableBufferPointer(start: restored.reserve(outCount), count: outCount)
        try allGatherAndRestore(local: UnsafeBufferPointer(start: local, count: plan.rowsPerRank * width),
                                rowWidth: width, plan: plan, communicator: communicator,
                                gatherScratch: scratch, into: out)
        return UnsafePointer(out.baseAddress!)
    }

    public func gatherLastRows(_ rows: UnsafeMutablePointer<Float>, requests: Int, width: Int, layout: PrefillLayout) throws -> Bool {
        let n = requests * width, p = plan.ranks
        let all = lastRowsScratch.reserve(p * n)                              // [P, requests, width]
        try communicator.allGather(UnsafeBufferPointer(start: rows, count: n), into: UnsafeMutableBufferPointer(start: all, count: p * n))
        guard communicator.rank == 0 else { return false }
        for i in 0..<requests {
            let owner = plan.owner(request: i, position: plan.lengths[i] - 1)
            (rows + i * width).update(from: all + owner * n + i * width, count: width)
        }
        return true
    }
}

extension ShardPlan {
    /// The rank holding real position `position` of request `request`.
    public func owner(request: Int, position: Int) -> Int {
        gatheredRow(request: request, position: position) / rowsPerRank   // the gathered buffer is rank-major
    }

    /// This rank's rows of one prefill step as a model layout: per request its head chunk then its
    /// tail chunk, tokens at global positions (offset by the request's cached prefix), pads as token 0.
    public func layout(rank: Int, newTokens: [[Int32]], cachedPrefix: [Int]? = nil) -> PrefillLayout {
        var requests: [PrefillLayout.Request] = [], blocks: [PrefillLayout.QueryBlock] = []
        var tokens = [Int32](repeating: 0, count: rowsPerRank), positions = [Int32](repeating: 0, count: rowsPerRank)
        var lastRows: [Int?] = []
        for (i, toks) in newTokens.enumerated() {
            let prefix = cachedPrefix?[i] ?? 0, c = chunkSizes[i], offset = localRowOffset(request: i)
            let h = headSize(request: i, rank: rank)
            requests.append(.init(cachedPrefix: prefix, newTokens: toks.count))
            blocks.append(.init(request: i, localStart: offset, count: h,
                                firstPosition: prefix + headFirstPosition(request: i, rank: rank)))
            blocks.append(.init(request: i, localStart: offset + h, count: 2 * c - h,
                                firstPosition: prefix + tailFirstPosition(request: i, rank: rank)))
            var last: Int? = nil
            for j in 0..<2 * c {
                let g = globalPosition(request: i, localRow: j, rank: rank)
                positions[offset + j] = Int32(prefix + g)
                if g < toks.count { tokens[offset + j] = toks[g] }
                if g == toks.count - 1 { last = offset + j }
            }
            lastRows.append(last)
        }
        return PrefillLayout(requests: requests, tokens: tokens, positions: positions, blocks: blocks, lastRows: lastRows)
    }
}
