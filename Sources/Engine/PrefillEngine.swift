import ContextParallel
import DeepSeekModel
import Kernels
import KVCache

/// Runs the PCP prefill of a batch of prompts on every rank of a communicator (P = 1 is the same
/// path with a trivial communicator), optionally in chunks of `chunkTokens` per request: each chunk
/// is its own PCP step attending to the cache of the earlier chunks. Every rank must call `run`
/// with the same prompts in the same order.
public final class PrefillEngine {
    public let model: DeepSeekTransformer
    public let communicator: Communicator
    public let chunkTokens: Int?

    /// Counters of the last run (this rank).
    public private(set) var latentGathers = 0
    public private(set) var bytesGathered = 0
    public private(set) var gatherSeconds = 0.0
    public private(set) var steps = 0

    public init(model: DeepSeekTransformer, communicator: Communicator, chunkTokens: Int? = nil) {
        self.model = model
        self.communicator = communicator
        self.chunkTokens = chunkTokens
    }

    /// Prefills prompts into `cache` under `sequences` (allocated by the caller with capacity ≥
    /// prompt length). onLayer(layer, finished) fires as soon as a layer's rows are in the cache for
    /// the prompts (indices into `prompts`) whose last chunk ran in this step: from then on those
    /// rows are final and can be shipped. Returns last-position logits on rank 0.
    public func run(prompts: [[Int32]], sequences: [Int], cache: PagedLatentCache,
                    onLayer: ((_ layer: Int, _ finished: [Int]) throws -> Void)? = nil) throws -> [[Float]]? {
        latentGathers = 0; bytesGathered = 0; gatherSeconds = 0; steps = 0
        for p in prompts where p.isEmpty { throw ModelError.emptyPrompt }
        let longest = prompts.map(\.count).max() ?? 0
        let chunk = max(chunkTokens ?? longest, 1)
        var done = [Int](repeating: 0, count: prompts.count)
        var logits = [[Float]](repeating: [], count: prompts.count)
        var anyLogits = false
        while true {
            // Requests with tokens left take their next chunk; finished ones sit this step out.
            let active = prompts.indices.filter { done[$0] < prompts[$0].count }
            if active.isEmpty { break }
            let newTokens = active.map { Array(prompts[$0][done[$0]..<min(done[$0] + chunk, prompts[$0].count)]) }
            let prefixes = active.map { done[$0] }
            let finishing = active.filter { done[$0] + chunk >= prompts[$0].count }
            let plan = ShardPlan(lengths: newTokens.map(\.count), ranks: communicator.size)
            let layout = plan.layout(rank: communicator.rank, newTokens: newTokens, cachedPrefix: prefixes)
            let exchange = PCPExchange(communicator: communicator, plan: plan)
            let stepLogits = try model.prefill(layout, sequences: active.map { sequences[$0] }, cache: cache,
                                               exchange: exchange,
                                               onLayer: onLayer.map { hook in { layer in try hook(layer, finishing) } })
            latentGathers += exchange.latentGathers
            bytesGathered += exchange.bytesGathered
            gatherSeconds += exchange.gatherSeconds
            steps += 1
            for (k, i) in active.enumerated() {
                done[i] += newTokens[k].count
                if done[i] == prompts[i].count, let stepLogits {
                    logits[i] = stepLogits[k]
                    anyLogits = true
                }
            }
        }
        for (i, s) in sequences.enumerated() { try cache.setLength(prompts[i].count, of: s) }
        return anyLogits ? logits : nil
    }
}
