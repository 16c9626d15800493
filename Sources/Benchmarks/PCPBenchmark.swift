import ContextParallel
import DeepSeekModel
import Engine
import Kernels

/// `pd-bench pcp`: time to first token of one long prompt on 1 rank × 1 thread, 1 rank × 2 threads
/// and `ranks` MPI ranks × 1 thread (spawned with mpirun), in one run, with the all-gather's share.
/// The two 2-core configurations run in interleaved rounds (order alternating), and their ratio is
/// the median of the per-round ratios, so the host's drift between rounds cancels out of it.
public struct PCPBenchmark {
    public var model: String
    /// Prompt length.
    public var tokens: Int
    /// Timed runs per configuration and round (the best counts).
    public var repeats: Int
    /// Interleaved rounds of 1 rank × 2 threads and the MPI run (1 rank × 1 thread runs once).
    public var rounds: Int
    /// MPI ranks of the distributed configuration.
    public var ranks: Int

    /// The subcommand of this executable that runs one MPI rank (PCPWorkerRank).
    public static let workerCommand = "pcp-worker"

    public var weightsDType: WeightsDType

    public init(model: String, weightsDType: WeightsDType = .auto, tokens: Int, repeats: Int, rounds: Int, ranks: Int) {
        self.model = model; self.weightsDType = weightsDType; self.tokens = tokens; self.repeats = repeats; self.rounds = rounds; self.ranks = ranks
    }

    public func run() throws -> Report {
        guard tokens >= 1, repeats >= 1, rounds >= 1, ranks >= 2 else {
            throw BenchError.badOption("--tokens, --repeats, --rounds ≥ 1 and --ranks ≥ 2 expected")
        }
        let transformer = try DeepSeekTransformer(directory: try BuiltinModel.resolve(model), weightsDType: weightsDType)
        let prompt = syntheticPrompt(count: tokens, vocab: transformer.config.vocabSize)
        func inProcess(threads: Int) throws -> PCPRun {
            BLAS.setThreads(threads)
            return try PCPRun.measure(transformer, communicator: SingleRankCommunicator(), prompt: prompt, repeats: repeats)
        }
        // Untimed first run: pages the weights in and sizes the scratch buffers, as in a running daemon.
        BLAS.setThreads(2)
        _ = try PCPRun.measure(transformer, communicator: SingleRankCommunicator(), prompt: prompt, repeats: 1)
        let single = try inProcess(threads: 1)
        let reference = single.logits ?? []
        var twoThreadRuns: [PCPRun] = [], mpiRuns: [[String: Any]] = []
        for round in 0..<rounds {
            for mpi in round % 2 == 0 ? [false, true] : [true, false] {
                if mpi {
                    mpiRuns.append(try MPIRunLauncher.run(ranks: ranks, arguments: [
                        Self.workerCommand, "--model", model, "--weights-dtype", weightsDType.rawValue, "--tokens", "\(tokens)", "--repeats", "\(repeats)"]))
                } else {
                    twoThreadRuns.append(try inProcess(threads: 2))
                }
            }
        }
        let mpiSeconds = mpiRuns.map { $0["ttft_seconds"] as! Double }
        let ratios = pairedRatios(mpiSeconds, twoThreadRuns.map(\.seconds))
        // Each configuration is shown by its median round.
        var mpi = mpiRuns.sorted { ($0["ttft_seconds"] as! Double) < ($1["ttft_seconds"] as! Double) }[mpiRuns.count / 2]
        let twoThreads = twoThreadRuns.sorted { $0.seconds < $1.seconds }[twoThreadRuns.count / 2]
        let workerLogits = mpi["logits_head"] as? [Double] ?? []
        let diff = zip(workerLogits, reference).map { abs($0 - Double($1)) }.max() ?? .nan
        mpi.removeValue(forKey: "logits_head")
        mpi["max_abs_logit_diff_vs_1_rank"] = diff
        mpi["ttft_seconds_per_round"] = mpiSeconds
        var results = [single.summary(ranks: 1, threadsPerRank: 1), twoThreads.summary(ranks: 1, threadsPerRank: 2), mpi]
        results[1]["ttft_seconds_per_round"] = twoThreadRuns.map(\.seconds)

        // Work per rank of the distributed run, from the shard plan, against the 1-rank forward.
        let c = transformer.config
        let plan = ShardPlan(lengths: [tokens], ranks: ranks, keyCost: PrefillEngine.keyCostInPairs(c))
        let oneRank = ForwardFlops.prefill(c, tokens: tokens)
        func flopsPerRank(_ plan: ShardPlan) -> [Double] {
            (0..<ranks).map { r in ForwardFlops.prefill(c, layout: plan.layout(rank: r, newTokens: [prompt]), computesLogits: r == 0) }
        }
        let rankFlops = flopsPerRank(plan)
        let equalChunkFlops = flopsPerRank(ShardPlan(lengths: [tokens], ranks: ranks))
        let split = (0..<ranks).map { [plan.headSize(request: 0, rank: $0), plan.tailSize(request: 0, rank: $0)] }
        results[2]["head_tail_rows_per_rank"] = split
        results[2]["gflop_per_rank"] = rankFlops.map { $0 / 1e9 }
        results[2]["gflop_per_rank_equal_chunks"] = equalChunkFlops.map { $0 / 1e9 }
        results[0]["gflop_per_rank"] = [oneRank / 1e9]
        results[1]["gflop_per_rank"] = [oneRank / 1e9]
        let distributed = results[2]["ttft_seconds"] as! Double
        return Report(benchmark: self, results: results, efficiency: single.seconds / (Double(ranks) * distributed),
                      pairedRatios: ratios, maxLogitDiff: diff, oneRankFlops: oneRank, rankFlops: rankFlops,
                      equalChunkFlops: equalChunkFlops, split: split)
    }

    public struct Report {
        public let benchmark: PCPBenchmark
        /// One row per configuration: 1 × 1, 1 × 2 (median round), ranks × 1 (median round).
        let results: [[String: Any]]
        public let efficiency: Double
        /// Per round, ranks × 1 thread over 1 rank × 2 threads.
        public let pairedRatios: [Double]
        public let maxLogitDiff: Double
        public let oneRankFlops: Double, rankFlops: [Double], equalChunkFlops: [Double]
        /// Per rank, [head rows, tail rows] of the prompt.
        public let split: [[Int]]

        public var ratio: Double { median(pairedRatios) }

        public func json() -> String {
            let b = benchmark
            return BenchOutput.json(["model": b.model, "tokens": b.tokens, "repeats": b.repeats, "rounds": b.rounds, "results": results,
                                     "parallel_efficiency_vs_1x1": efficiency,
                                     "mpi_vs_1_rank_2_threads": ratio, "mpi_vs_1_rank_2_threads_per_round": pairedRatios])
        }

        public func text() -> String {
            let b = benchmark
            var lines = ["pcp  model=\(b.model) tokens=\(b.tokens) best-of-\(b.repeats), \(b.rounds) interleaved round(s); 2-core rows: median round",
                         "configuration            TTFT s   gathers  gathered MiB  gather+restore s  share"]
            for r in results {
                let name = (r["configuration"] as! String).padding(toLength: 24, withPad: " ", startingAt: 0)
                lines.append(name + String(format: " %7.3f  %7d  %12.1f  %16.3f  %5.1f%%", r["ttft_seconds"] as! Double,
                                           r["latent_gathers"] as! Int, Double(r["bytes_gathered"] as! Int) / 1_048_576,
                                           r["gather_seconds"] as! Double, 100 * (r["gather_share"] as! Double)))
            }
            let waits = (results[2]["gather_seconds_per_rank"] as? [Double] ?? []).map { String(format: "%.3f", $0) }
            lines.append("work per rank (GFLOP): " + rankFlops.enumerated().map {
                String(format: "rank %d %.1f (%.1f%% of the 1-rank %.1f)", $0, $1 / 1e9, 100 * $1 / oneRankFlops, oneRankFlops / 1e9)
            }.joined(separator: ", ") + "; gather+restore s per rank (incl. waiting for the slowest): " + waits.joined(separator: ", "))
            lines.append("split (head/tail rows): " + split.enumerated().map { "rank \($0) \($1[0])/\($1[1])" }.joined(separator: ", ")
                         + String(format: "; with equal chunks the busiest rank would carry %.1f%% of the 1-rank work",
                                  100 * equalChunkFlops.max()! / oneRankFlops))
            lines.append("per round, \(b.ranks) ranks×1 thread / 1 rank×2 threads: "
                         + pairedRatios.map { String(format: "%.3f", $0) }.joined(separator: ", "))
            lines.append(String(format: "parallel efficiency vs 1×1: %.1f%%   %d ranks×1 thread / 1 rank×2 threads (median of rounds): %.3f   max |Δlogit| vs 1 rank: %.2e",
                                100 * efficiency, b.ranks, ratio, maxLogitDiff))
            return lines.joined(separator: "\n")
        }
    }
}
