import ArgumentParser
import ContextParallel
import DeepSeekModel
import Engine
import Foundation
import Kernels
import KVCache

/// `pd-bench pcp`: time to first token of one long prompt on 1 rank × 1 thread, 1 rank × 2 threads
/// and 2 MPI ranks × 1 thread (spawned with mpirun), in one run, with the all-gather's share.
/// The two 2-core configurations run in interleaved rounds (order alternating), and their ratio is
/// the median of the per-round ratios, so the host's drift between rounds cancels out of it.
struct PCPBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pcp",
        abstract: "PCP prefill TTFT: 1 rank × 1 thread, 1 rank × 2 threads, mpirun -np 2 × 1 thread."
    )

    @Option(help: "Built-in model name or HF folder.") var model = "bench"
    @Option(help: "Prompt length.") var tokens = 4096
    @Option(help: "Timed runs per configuration and round (the best counts).") var repeats = 1
    @Option(help: "Interleaved rounds of 1 rank × 2 threads and the MPI run (1 rank × 1 thread runs once).") var rounds = 3
    @Option(help: "MPI ranks of the distributed configuration.") var ranks = 2
    @Flag(help: "Print one JSON object instead of a table.") var json = false

    func run() throws {
        guard tokens >= 1, repeats >= 1, rounds >= 1, ranks >= 2 else {
            throw BenchError.badOption("--tokens, --repeats, --rounds ≥ 1 and --ranks ≥ 2 expected")
        }
        let transformer = try DeepSeekTransformer(directory: try BuiltinModel.resolve(model))
        let prompt = ModelBench.prompt(count: tokens, vocab: transformer.config.vocabSize)
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
                if mpi { mpiRuns.append(try spawnWorkers()) } else { twoThreadRuns.append(try inProcess(threads: 2)) }
            }
        }
        let pairedRatios = zip(mpiRuns, twoThreadRuns).map { ($0["ttft_seconds"] as! Double) / $1.seconds }
        // Each configuration is shown by its median round.
        var mpi = mpiRuns.sorted { ($0["ttft_seconds"] as! Double) < ($1["ttft_seconds"] as! Double) }[mpiRuns.count / 2]
        let twoThreads = twoThreadRuns.sorted { $0.seconds < $1.seconds }[twoThreadRuns.count / 2]
        let workerLogits = mpi["logits_head"] as? [Double] ?? []
        let diff = zip(workerLogits, reference).map { abs($0 - Double($1)) }.max() ?? .nan
        mpi.removeValue(forKey: "logits_head")
        mpi["max_abs_logit_diff_vs_1_rank"] = diff
        mpi["ttft_seconds_per_round"] = mpiRuns.map { $0["ttft_seconds"] as! Double }
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
        let efficiency = single.seconds / (Double(ranks) * distributed)
        let ratio = median(pairedRatios)
        if json {
            print(ModelBench.json(["model": model, "tokens": tokens, "repeats": repeats, "rounds": rounds, "results": results,
                                   "parallel_efficiency_vs_1x1": efficiency,
                                   "mpi_vs_1_rank_2_threads": ratio, "mpi_vs_1_rank_2_threads_per_round": pairedRatios]))
            return
        }
        print("pcp  model=\(model) tokens=\(tokens) best-of-\(repeats), \(rounds) interleaved round(s); 2-core rows: median round")
        print("configuration            TTFT s   gathers  gathered MiB  gather+restore s  share")
        for r in results {
            let name = (r["configuration"] as! String).padding(toLength: 24, withPad: " ", startingAt: 0)
            print(name + String(format: " %7.3f  %7d  %12.1f  %16.3f  %5.1f%%", r["ttft_seconds"] as! Double,
                         r["latent_gathers"] as! Int, Double(r["bytes_gathered"] as! Int) / 1_048_576,
                         r["gather_seconds"] as! Double, 100 * (r["gather_share"] as! Double)))
        }
        let waits = (results[2]["gather_seconds_per_rank"] as? [Double] ?? []).map { String(format: "%.3f", $0) }
        print("work per rank (GFLOP): " + rankFlops.enumerated().map { String(format: "rank %d %.1f (%.1f%% of the 1-rank %.1f)", $0, $1 / 1e9, 100 * $1 / oneRank, oneRank / 1e9) }.joined(separator: ", ")
              + "; gather+restore s per rank (incl. waiting for the slowest): " + waits.joined(separator: ", "))
        print("split (head/tail rows): " + split.enumerated().map { "rank \($0) \($1[0])/\($1[1])" }.joined(separator: ", ")
              + String(format: "; with equal chunks the busiest rank would carry %.1f%% of the 1-rank work", 100 * equalChunkFlops.max()! / oneRank))
        print("per round, \(ranks) ranks×1 thread / 1 rank×2 threads: " + pairedRatios.map { String(format: "%.3f", $0) }.joined(separator: ", "))
        print(String(format: "parallel efficiency vs 1×1: %.1f%%   %d ranks×1 thread / 1 rank×2 threads (median of rounds): %.3f   max |Δlogit| vs 1 rank: %.2e",
                     100 * efficiency, ranks, ratio, diff))
    }

    /// Runs `mpirun -np ranks <self> pcp-worker ...` and returns rank 0's JSON line.
    private func spawnWorkers() throws -> [String: Any] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        let me = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let arguments = ["mpirun", "--oversubscribe", "--bind-to", "none", "-np", "\(ranks)", me, "pcp-worker",
                         "--model", model, "--tokens", "\(tokens)", "--repeats", "\(repeats)"]
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env["OMPI_ALLOW_RUN_AS_ROOT"] = "1"; env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"; env["OPENBLAS_NUM_THREADS"] = "1"
        process.environment = env
        let out = Pipe()
        process.standardOutput = out
        process.standardError = out
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        guard process.terminationStatus == 0 else {
            throw BenchError.subprocessFailed(command: arguments.joined(separator: " "), status: process.terminationStatus, output: text)
        }
        guard let line = text.split(separator: "\n").last(where: { $0.hasPrefix("{") }),
              let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
            throw BenchError.unparsableOutput(text)
        }
        return object
    }
}

/// Hidden: one rank of `pd-bench pcp`'s distributed configuration (started by mpirun).
struct PCPWorker: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "pcp-worker", abstract: "One MPI rank of pd-bench pcp.",
                                                    shouldDisplay: false)

    @Option var model = "bench"
    @Option var tokens = 4096
    @Option var repeats = 2

    func run() throws {
        let communicator = try MPICommunicator.initialize()
        do {
            BLAS.setThreads(ThreadDefaults.blasThreads(ranks: communicator.size))
            let transformer = try DeepSeekTransformer(directory: try BuiltinModel.resolve(model))
            let prompt = ModelBench.prompt(count: tokens, vocab: transformer.config.vocabSize)
            // A fresh process: one untimed run first, as the in-process configurations had.
            _ = try PCPRun.measure(transformer, communicator: communicator, prompt: prompt, repeats: 1)
            let run = try PCPRun.measure(transformer, communicator: communicator, prompt: prompt, repeats: repeats)
            // The slowest rank decides the TTFT (measure already takes the max over ranks); every
            // rank's all-gather time (its own copy + waiting for slower ranks) goes to rank 0.
            let perRank = try communicator.gatherBytes(Array(String(run.gatherSeconds).utf8), root: 0)
            if communicator.rank == 0 {
                var summary = run.summary(ranks: communicator.size, threadsPerRank: BLAS.threads)
                summary["gather_seconds_per_rank"] = perRank.map { Double(String(decoding: $0, as: UTF8.self)) ?? .nan }
                summary["logits_head"] = (run.logits ?? []).prefix(256).map(Double.init)
                print(ModelBench.json(summary).replacingOccurrences(of: "\n", with: ""))
            }
            communicator.finalize()
        } catch {
            FileHandle.standardError.write(Data("pcp-worker rank \(communicator.rank): \(error)\n".utf8))
            communicator.abort(code: 1)
        }
    }
}

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

    func summary(ranks: Int, threadsPerRank: Int) -> [String: Any] {
        ["configuration": "\(ranks) rank\(ranks > 1 ? "s" : "") × \(threadsPerRank) thread\(threadsPerRank > 1 ? "s" : "")",
         "ranks": ranks, "threads_per_rank": threadsPerRank, "ttft_seconds": seconds,
         "latent_gathers": latentGathers, "bytes_gathered": bytesGathered, "gather_seconds": gatherSeconds,
         "gather_share": gatherSeconds / seconds]
    }
}
