import ContextParallel
import DeepSeekModel
import Foundation
import Kernels

/// One MPI rank of `pd-bench pcp`'s distributed configuration (started by MPIRunLauncher): rank 0
/// prints one JSON line (its PCPRun summary, every rank's gather seconds, the head of its logits)
/// for the launcher to read. A failing rank aborts the job, so the launcher never waits on a hang.
public enum PCPWorkerRank {
    public static func run(model: String, weightsDType: WeightsDType = .auto, tokens: Int, repeats: Int) throws {
        let communicator = try MPICommunicator.initialize()
        do {
            BLAS.setThreads(ThreadDefaults.blasThreads(ranks: communicator.size))
            let transformer = try DeepSeekTransformer(directory: try BuiltinModel.resolve(model), weightsDType: weightsDType)
            let prompt = syntheticPrompt(count: tokens, vocab: transformer.config.vocabSize)
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
                print(BenchOutput.json(summary).replacingOccurrences(of: "\n", with: ""))
            }
            communicator.finalize()
        } catch {
            FileHandle.standardError.write(Data("pcp-worker rank \(communicator.rank): \(error)\n".utf8))
            communicator.abort(code: 1)
        }
    }
}
