import Basics
import ContextParallel
import DeepSeekModel
import Engine
import KVCache

/// Best-of-N PCP prefill of one prompt on a communicator, with the engine's gather counters.
struct PCPRun {
    var seconds: Double
    var gatherSeconds: Double
    var latentGathers: Int
    var bytesGathered: Int
    var logits: [Float]?

    static func measure(_ model: DeepSeekTransformer, communicator: Communicator, prompt: [Int32], repeats: Int) throws -> PCPRun {
        let c = model.config
        let cache = try PagedLatentCache(layers: c.numHiddenLayers, rowWidth: c.latentRowWidth, pageSize: 16,
                                         pageCount: (prompt.count + 15) / 16)
        let engine = PrefillEngine(model: model, communicator: communicator)
        var best = PCPRun(seconds: .infinity, gatherSeconds: 0, latentGathers: 0, bytesGathered: 0, logits: nil)
        for _ in 0..<repeats {
            let sequence = try cache.allocate(capacity: prompt.count)
            try communicator.barrier()
            let start = monotonicSeconds()
            let logits = try engine.run(prompts: [prompt], sequences: [sequence], cache: cache)
            let seconds = try communicator.allReduceMax(monotonicSeconds() - start)
            cache.release(sequence)
            if seconds < best.seconds {
                best = PCPRun(seconds: seconds, gatherSeconds: engine.gatherSeconds, latentGathers: engine.latentGathers,
                              bytesGathered: engine.bytesGathered, logits: logits?.first)
            }
        }
        return best
    }

    /// One configuration's row of the report (the JSON fields BENCHMARKS.md reads).
    func summary(ranks: Int, threadsPerRank: Int) -> [String: Any] {
        ["configuration": "\(ranks) rank\(ranks > 1 ? "s" : "") × \(threadsPerRank) thread\(threadsPerRank > 1 ? "s" : "")",
         "ranks": ranks, "threads_per_rank": threadsPerRank, "ttft_seconds": seconds,
         "latent_gathers": latentGathers, "bytes_gathered": bytesGathered, "gather_seconds": gatherSeconds,
         "gather_share": gatherSeconds / seconds]
    }
}
