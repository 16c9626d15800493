/// How one prefill step's rows are laid out on this process. The model computes whatever rows it
/// is given; who owns which rows (one rank, or a PCP shard) is decided outside, by whoever builds
/// the layout — parallelism applied from outside the model.
public struct PrefillLayout: Sendable, Equatable {
    /// One request's part in this step: `cachedPrefix` tokens already in the cache (chunked
    /// prefill), `newTokens` computed now (positions cachedPrefix ..< cachedPrefix + newTokens).
    public struct Request: Sendable, Equatable {
        public var cachedPrefix: Int
        public var newTokens: Int
        public init(cachedPrefix: Int, newTokens: Int) { self.cachedPrefix = cachedPrefix; self.newTokens = newTokens }
        public var totalTokens: Int { cachedPrefix + newTokens }
    }

    /// A run of local query rows of one request at consecutive positions: local rows
    /// [localStart, localStart + count) stand at positions firstPosition + j and see keys
    /// [0, min(position + 1, totalTokens)). Rows at positions ≥ totalTokens are pads.
    public struct QueryBlock: Sendable, Equatable {
        public var request: Int, localStart: Int, count: Int, firstPosition: Int
        public init(request: Int, localStart: Int, count: Int, firstPosition: Int) {
            self.request = request; self.localStart = localStart; self.count = count; self.firstPosition = firstPosition
        }
    }

    public var requests: [Request]
    public var tokens: [Int32]        // [localRows] (pads hold token 0)
    public var positions: [Int32]     // [localRows] position within the request, for RoPE
    public var blocks: [QueryBlock]
    /// Per request, the local row holding its last real position, when this process holds it.
    public var lastRows: [Int?]

    public init(requests: [Request], tokens: [Int32], positions: [Int32], blocks: [QueryBlock], lastRows: [Int?]) {
        self.requests = requests; self.tokens = tokens; self.positions = positions
        self.blocks = blocks; self.lastRows = lastRows
    }

    public var localRows: Int { tokens.count }
    /// Σ newTokens: rows of the restored (gathered, position-ordered) latent of this step.
    public var restoredRows: Int { requests.reduce(0) { $0 + $1.newTokens } }

    /// Everything on one process: rows request-major in position order, one block per request.
    public static func singleRank(newTokens: [[Int32]], cachedPrefix: [Int]? = nil) -> PrefillLayout {
        var requests: [Request] = [], tokens: [Int32] = [], positions: [Int32] = []
        var blocks: [QueryBlock] = [], lastRows: [Int?] = []
        for (i, toks) in newTokens.enumerated() {
            let prefix = cachedPrefix?[i] ?? 0
            requests.append(Request(cachedPrefix: prefix, newTokens: toks.count))
            blocks.append(QueryBlock(request: i, localStart: tokens.count, count: toks.count, firstPosition: prefix))
            lastRows.append(toks.isEmpty ? nil : tokens.count + toks.count - 1)
            positions += (0..<toks.count).map { Int32(prefix + $0) }
            tokens += toks
        }
        return PrefillLayout(requests: requests, tokens: tokens, positions: positions, blocks: blocks, lastRows: lastRows)
    }

    /// Keys a block's rows see: [0, visibleKeys). A block holding only pads (first position ≥
    /// totalTokens) sees nothing — its rows are never read, so attention skips it.
    public func visibleKeys(_ b: QueryBlock) -> Int {
        let total = requests[b.request].totalTokens
        return b.firstPosition < total ? min(b.firstPosition + b.count, total) : 0
    }

    /// Keys request i's query blocks can see: [0, keysToDecompress); 0 when all its blocks here are pads.
    public func keysToDecompress(request i: Int) -> Int {
        blocks.lazy.filter { $0.request == i }.map(visibleKeys).max() ?? 0
    }

    /// True when local rows already are the restored order (so the exchange can be the identity).
    public var isPositionOrdered: Bool {
        var row = 0
        for r in requests {
            for j in 0..<r.newTokens {
                guard row < positions.count, positions[row] == Int32(r.cachedPrefix + j) else { return false }
                row += 1
            }
        }
        return row == positions.count
    }

    public func validate(vocabSize: Int, maxPositions: Int) throws {
        guard tokens.count == positions.count else { throw ModelError.badLayout("tokens and positions differ in length") }
        guard lastRows.count == requests.count else { throw ModelError.badLayout("lastRows must have one entry per request") }
        for t in tokens where t < 0 || Int(t) >= vocabSize { throw ModelError.tokenOutOfRange(token: Int(t), vocabSize: vocabSize) }
        for r in requests {
            if r.newTokens < 1 { throw ModelError.emptyPrompt }
            if r.totalTokens > maxPositions { throw ModelError.contextTooLong(tokens: r.totalTokens, maxPositions: maxPositions) }
        }
        for b in blocks where b.request >= requests.count || b.localStart < 0 || b.localStart + b.count > tokens.count {
            throw ModelError.badLayout("query block \(b) outside the \(tokens.count) local rows")
        }
    }
}

/// How a layer obtains the latent rows of every rank. The model defines this hook; the identity
/// serves one process, and ContextParallel implements it with one all-gather per layer.
public protocol LatentExchange: AnyObject {
    /// local: this process's latent rows [localRows, rowWidth] (c_kv normalised, k_pe roped).
    /// Returns the restored latent of the step [restoredRows, rowWidth], request-major, position
    /// order, pads dropped; valid until the next call.
    func gatherLatent(layer: Int, local: UnsafePointer<Float>, layout: PrefillLayout, rowWidth: Int) throws -> UnsafePointer<Float>

    /// rows: [requests, width], each request's final hidden row filled where this process holds
    /// it (zeros elsewhere). Completes the rows on the process that computes logits and returns
    /// true there; false on the others.
    func gatherLastRows(_ rows: UnsafeMutablePointer<Float>, requests: Int, width: Int, layout: PrefillLayout) throws -> Bool

    /// local: per-row results [localRows, width]. Returns them for the whole step [Σ newTokens, width],
    /// request-major, position order, pads dropped, on every process; valid until the next call.
    func gatherPositionRows(_ local: UnsafePointer<Float>, layout: PrefillLayout, width: Int) throws -> UnsafePointer<Float>
}

/// One process holds every row: nothing to exchange.
public final class LocalExchange: LatentExchange {
    public init() {}
    public func gatherLatent(layer: Int, local: UnsafePointer<Float>, layout: PrefillLayout, rowWidth: Int) throws -> UnsafePointer<Float> {
        guard layout.isPositionOrdered else { throw ModelError.badLayout("LocalExchange needs rows in position order") }
        return local
    }
    public func gatherLastRows(_ rows: UnsafeMutablePointer<Float>, requests: Int, width: Int, layout: PrefillLayout) throws -> Bool { true }
    public func gatherPositionRows(_ local: UnsafePointer<Float>, layout: PrefillLayout, width: Int) throws -> UnsafePointer<Float> {
        guard layout.isPositionOrdered else { throw ModelError.badLayout("LocalExchange needs rows in position order") }
        return local
    }
}
