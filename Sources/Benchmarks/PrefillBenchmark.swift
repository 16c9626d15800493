import Basics
import ContextParallel
import DeepSeekModel
import Engine
import Kernels
import KVCache
import Tensors

/// `pd-bench prefill`: time to prefill one prompt per length through the real PCP path
/// (PrefillEngine + SingleRankCommunicator), against the peak of the GEMM path its projections take (sgemm, or
/// panel conversion + sgemm for stored bf16 / f16 / FP8; `GEMMPeak`) on the same backend, measured in the same run.
public struct PrefillBenchmark {
    public var model: String
    public var lengths: [Int]
    public var threads: Int
    /// Timed runs per length; the best counts (the first also grows the scratch buffers).
    public var repeats: Int
    public var weightsDType: WeightsDType
    public var residency: WeightResidency

    public init(model: String, weightsDType: WeightsDType = .auto, residency: WeightResidency = .mmap, lengths: [Int], threads: Int, repeats: Int) {
        self.model = model; self.weightsDType = weightsDType; self.residency = residency; self.lengths = lengths; self.threads = threads; self.repeats = repeats
    }

    public func run() throws -> Report {
        guard !lengths.isEmpty, lengths.allSatisfy({ $0 >= 1 }) else { throw BenchError.badOption("--tokens must list lengths ≥ 1") }
        guard threads >= 1, repeats >= 1 else { throw BenchError.badOption("--threads and --repeats must be ≥ 1") }
        BLAS.setThreads(threads)
        let transformer = try DeepSeekTransformer(directory: try BuiltinModel.resolve(model), weightsDType: weightsDType, residency: residency)
        let c = transformer.config
        let engine = PrefillEngine(model: transformer, communicator: SingleRankCommunicator())
        // The yardstick is the peak of the path the model's projections take (#15): sgemm for f32
        // weights, panel conversion + sgemm for stored bf16 / f16 / FP8; plain sgemm's is kept beside it.
        let path = GEMMPeak(dtype: .init(of: transformer.weights.layers[0].attention.o.storage))
        let sgemm = path.dtype == .f32 ? nil : GEMMPeak(dtype: .f32)
        var rows: [Row] = []
        for n in lengths {
            let prompt = syntheticPrompt(count: n, vocab: c.vocabSize)
            let cache = try PagedLatentCache(layers: c.numHiddenLayers, rowWidth: c.latentRowWidth, pageSize: 16,
                                             pageCount: (n + 15) / 16)
            // The yardsticks interleaved with the runs they measure (the host's speed drifts within a
            // process): the best 2048³ of those timed before each run and after the last.
            var best = Double.infinity, peak = 0.0, sgemmPeak: Double? = nil
            let samplePeaks = {
                peak = max(peak, path.gflops(repeats: 2))
                if let sgemm { sgemmPeak = max(sgemmPeak ?? 0, sgemm.gflops(repeats: 2)) }
            }
            samplePeaks()
            for _ in 0..<repeats {
                let sequence = try cache.allocate(capacity: n)
                let start = monotonicSeconds()
                _ = try engine.run(prompts: [prompt], sequences: [sequence], cache: cache)
                best = min(best, monotonicSeconds() - start)
                cache.release(sequence)
                samplePeaks()
            }
            rows.append(Row(tokens: n, seconds: best, flops: ForwardFlops.prefill(c, tokens: n), peakGFLOPs: peak,
                            sgemmPeakGFLOPs: sgemmPeak))
        }
        return Report(benchmark: self, peakPath: path.pathName, rows: rows, maxResidentBytes: ProcessResources.maxResidentBytes(),
                      weightBytes: transformer.weights.weightBytes,
                      longestCacheBytes: (lengths.max() ?? 0) * c.numHiddenLayers * c.latentRowWidth * 4)
    }

    /// One prompt length: best time, the FLOP model's work done at that speed, and the yardsticks.
    public struct Row {
        public let tokens: Int, seconds: Double, flops: Double
        /// The peak of the model's GEMM path, and of plain f32 sgemm timed beside it (nil when the
        /// path is plain sgemm: f32 weights).
        public let peakGFLOPs: Double, sgemmPeakGFLOPs: Double?
        public var gflops: Double { flops / seconds / 1e9 }
        public var mfu: Double { gflops / peakGFLOPs }
        public var mfuVsSgemm: Double { gflops / (sgemmPeakGFLOPs ?? peakGFLOPs) }
    }

    public struct Report {
        public let benchmark: PrefillBenchmark
        /// The GEMM path the peak was timed on ("bf16 panels + sgemm on oneDNN 2.6.3").
        public let peakPath: String
        public let rows: [Row]
        public let maxResidentBytes: Int, weightBytes: Int, longestCacheBytes: Int

        public func json() -> String {
            BenchOutput.json([
                "model": benchmark.model, "threads": benchmark.threads, "repeats": benchmark.repeats, "gemm_backend": GEMMBackend.active.rawValue,
                "peak_path": peakPath,
                "openblas_core": BLAS.coreName,
                "results": rows.map { r in
                    ["tokens": r.tokens, "seconds": r.seconds, "tokens_per_second": Double(r.tokens) / r.seconds,
                     "gflop": r.flops / 1e9, "gflops": r.gflops, "peak_gflops": r.peakGFLOPs, "mfu": r.mfu,
                     "sgemm_peak_gflops": r.sgemmPeakGFLOPs ?? r.peakGFLOPs, "mfu_vs_sgemm": r.mfuVsSgemm] as [String: Any]
                },
                "max_rss_bytes": maxResidentBytes, "weight_bytes": weightBytes, "latent_cache_bytes_longest": longestCacheBytes,
            ])
        }

        public func text() -> String {
            let separate = rows.contains { $0.sgemmPeakGFLOPs != nil }   // a stored-dtype model
            var lines = ["prefill  model=\(benchmark.model) threads=\(benchmark.threads) best-of-\(benchmark.repeats)  "
                         + "peak: best 2048³ of \(peakPath), timed before each run and after the last"
                         + (separate ? " (sgemm: plain f32 sgemm's, timed alongside)" : ""),
                         "tokens   seconds   tokens/s   GFLOP    GFLOP/s     peak   MFU" + (separate ? "    sgemm  MFU vs sgemm" : "")]
            for r in rows {
                var line = String(format: "%6d  %8.3f  %9.1f  %7.1f  %8.1f  %7.1f  %5.2f", r.tokens, r.seconds,
                                  Double(r.tokens) / r.seconds, r.flops / 1e9, r.gflops, r.peakGFLOPs, r.mfu)
                if let sgemm = r.sgemmPeakGFLOPs { line += String(format: "  %7.1f  %12.2f", sgemm, r.mfuVsSgemm) }
                lines.append(line)
            }
            let mib = { (b: Int) in BenchOutput.format(Double(b) / 1_048_576, 0) }
            lines.append("max RSS \(mib(maxResidentBytes)) MiB; weights \(mib(weightBytes)) MiB + latent cache of the longest prompt "
                         + "\(mib(longestCacheBytes)) MiB (bound 2 × sum = \(mib(2 * (weightBytes + longestCacheBytes))) MiB)")
            return lines.joined(separator: "\n")
        }
    }
}
