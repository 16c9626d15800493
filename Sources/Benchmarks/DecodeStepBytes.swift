import DeepSeekModel
import KVCache

/// The bytes one decode step must stream, the numerator of decode's floor: every weight a step
/// reads in its held dtype — of a MoE layer's routed experts only those the step's tokens selected
/// (each computed once for all its rows), with attention, shared experts, router, norms and head
/// always — plus the latent cache rows each sequence attends over, in the cache's dtype.
public struct DecodeStepBytes: Equatable {
    public var weights: Int
    public var kvCache: Int
    public var total: Int { weights + kvCache }

    public init(weights: Int, kvCache: Int) { self.weights = weights; self.kvCache = kvCache }

    /// The step `model` just ran: its routed experts from `expertsComputedInLastForward`, and
    /// `attended[i]` cache rows (this step's row included) per sequence of `cache`.
    public static func lastStep(of model: DeepSeekTransformer, attended: [Int], cache: PagedLatentCache) -> DecodeStepBytes {
        let used = (0..<model.config.numHiddenLayers).map { Set(model.expertsComputedInLastForward(layer: $0)) }
        let regions = model.weights.decodeStreamedRegions { layer, expert in used[layer].contains(expert) }
        return DecodeStepBytes(weights: regions.reduce(0) { $0 + $1.count },
                               kvCache: attended.reduce(0) { $0 + $1 } * cache.bytesPerToken)
    }
}
