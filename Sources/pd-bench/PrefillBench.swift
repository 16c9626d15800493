import ArgumentParser
import ContextParallel
import DeepSeekModel
import Engine
import Foundation
import Kernels
import KVCache

/// `pd-bench prefill`: time to prefill one prompt per length through the real PCP path
/// (PrefillEngine + SingleRankCommunicator), against a cblas_sgemm peak measured in the same run.
struct PrefillBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prefill",
        abstract: "Prefill throughput per prompt length: tokens/s, GFLOP/s and MFU against a same-run sgemm peak."
    )

    @Option(help: "Built-in model name or HF folder.") var model = "bench"
    @Option(help: "Comma-separated prompt lengths.") var tokens = "512,1024,2048,4096"
    @Option(help: "BLAS threads.") var threads = 2
    @Option(help: "Timed runs per length (best is reported; the first also grows the scratch buffers).") var repeats = 3
    @Flag(help: "Print one JSON object instead of a table.") var json = false

    func run() throws {
        let lengths = try ModelBench.parseList(tokens, name: "tokens")
        guard threads >= 1, repeats >= 1 else { throw BenchError.badOption("--threads and --repeats must be ≥ 1") }
        BLAS.setThreads(threads)
        let transformer = try DeepSeekTransformer(directory: try BuiltinModel.resolve(model))
        let c = transformer.config
        let peak = ModelBench.sgemmPeakGFLOPs()
        let engine = PrefillEngine(model: transformer, communicator: SingleRankCommunicator())
        var rows: [[String: Any]] = []
        for n in lengths {
            let prompt = ModelBench.prompt(count: n, vocab: c.vocabSize)
            let cache = try PagedLatentCache(layers: c.numHiddenLayers, rowWidth: c.latentRowWidth, pageSize: 16,
                                             pageCount: (n + 15) / 16)
            var best = Double.infinity
            for _ in 0..<repeats {
                let sequence = try cache.allocate(capacity: n)
                let start = monotonicSeconds()
                _ = try engine.run(prompts: [prompt], sequences: [sequence], cache: cache)
                best = min(best, monotonicSeconds() - start)
                cache.release(sequence)
            }
            let flops = ForwardFlops.prefill(c, tokens: n)
            let gflops = flops / best / 1e9
            rows.append(["tokens": n, "seconds": best, "tokens_per_second": Double(n) / best,
                         "gflop": flops / 1e9, "gflops": gflops, "mfu": gflops / peak])
        }
        let weightBytes = transformer.weights.parameterCount * 4
        let cacheBytes = (lengths.max() ?? 0) * c.numHiddenLayers * c.latentRowWidth * 4
        let rss = ModelBench.maxResidentBytes()
        if json {
            print(ModelBench.json(["model": model, "threads": threads, "repeats": repeats, "sgemm_peak_gflops": peak,
                                   "results": rows, "max_rss_bytes": rss, "weight_bytes": weightBytes,
                                   "latent_cache_bytes_longest": cacheBytes]))
            return
        }
        print("prefill  model=\(model) threads=\(threads) best-of-\(repeats)  sgemm peak (2048³, same run) = \(ModelBench.format(peak, 1)) GFLOP/s")
        print("tokens   seconds   tokens/s   GFLOP    GFLOP/s   MFU")
        for r in rows {
            print(String(format: "%6d  %8.3f  %9.1f  %7.1f  %8.1f  %5.2f", r["tokens"] as! Int, r["seconds"] as! Double,
                         r["tokens_per_second"] as! Double, r["gflop"] as! Double, r["gflops"] as! Double, r["mfu"] as! Double))
        }
        let mib = { (b: Int) in ModelBench.format(Double(b) / 1_048_576, 0) }
        print("max RSS \(mib(rss)) MiB; weights \(mib(weightBytes)) MiB + latent cache of the longest prompt \(mib(cacheBytes)) MiB "
              + "(bound 2 × sum = \(mib(2 * (weightBytes + cacheBytes))) MiB)")
    }
}
