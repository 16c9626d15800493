import ArgumentParser
import Basics
import ContextParallel
import DeepSeekModel
import Engine
import Foundation
import Kernels

/// Single-process (or `mpirun -np P`, PCP prefill) reference generation.
@main
struct PDRun: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pd-run",
        abstract: "Generate from a DeepSeek MLA model in one process, or with PCP prefill under mpirun.")

    @Option(help: "Model folder (HF format) or built-in name: \(BuiltinModel.names).")
    var model: String = "tiny"

    @Option(help: "Linear weights in memory: \(WeightsDType.help).")
    var weightsDtype: WeightsDType = .auto

    @Option(help: "Prompt token ids, comma-separated (e.g. 3,17,42).")
    var promptIds: String

    @Option(help: "Tokens to generate.")
    var maxNewTokens: Int = 16

    @Option(help: "Sampling temperature (omit for greedy).")
    var temperature: Float?

    @Option(help: "Top-k (0 = off).")
    var topK: Int = 0

    @Option(help: "Top-p (1 = off).")
    var topP: Float = 1

    @Option(help: "Sampling seed.")
    var seed: UInt64?

    @Option(help: "Stop token ids, comma-separated.")
    var stopIds: String?

    @Flag(help: "Generate past the model's EOS token ids (eos_token_id), which end generation otherwise.")
    var ignoreEos = false

    @Option(help: "Prefill in chunks of this many tokens (chunked prefill).")
    var chunkTokens: Int?

    @Option(help: "OpenBLAS threads per rank (default: $OPENBLAS_NUM_THREADS, else cores / ranks).")
    var threads: Int?

    @Flag(help: "Print one JSON object on stdout.")
    var json = false

    func run() throws {
        let communicator: Communicator
        do {
            communicator = MPICommunicator.isUnderMPIRun ? try MPICommunicator.initialize() : SingleRankCommunicator()
        } catch {
            throw ValidationError("cannot start MPI: \(error)")
        }
        defer { (communicator as? MPICommunicator)?.finalize() }
        BLAS.setThreads(threads ?? ThreadDefaults.blasThreads(ranks: communicator.size))
        do {
            let request = try communicator.agreed { () -> (DeepSeekTransformer, [Int32], SamplingParams) in
                let prompt = try parseIDs(promptIds, option: "--prompt-ids")
                guard !prompt.isEmpty else { throw ValidationError("--prompt-ids: at least one token id is required") }
                let params = SamplingParams(temperature: temperature ?? 0, topK: topK, topP: topP, seed: seed,
                                            stopTokenIDs: try stopIds.map { try parseIDs($0, option: "--stop-ids").map(Int.init) } ?? [],
                                            maxNewTokens: maxNewTokens, ignoreEOS: ignoreEos)
                if let chunkTokens, chunkTokens < 1 { throw ValidationError("--chunk-tokens must be ≥ 1, got \(chunkTokens)") }
                let transformer = try DeepSeekTransformer(directory: try BuiltinModel.resolve(model), weightsDType: weightsDtype)
                try Admission.validate(prompt: prompt, params: params, config: transformer.config)
                return (transformer, prompt, params)
            }
            let generator = Generator(model: request.0, communicator: communicator, chunkTokens: chunkTokens)
            let outputs = try communicator.agreed { try generator.generate(prompts: [request.1], params: [request.2]) }
            guard let output = outputs?.first else { return }   // ranks > 0 are done after the prefill
            let report = RunReport(output: output, engine: generator.prefill, ranks: communicator.size, weights: request.0.weights)
            print(json ? try report.json() : report.text())
        } catch let failure as RankFailures {
            if communicator.rank == 0 { FileHandle.standardError.write(Data("pd-run: \(failure)\n".utf8)) }
            throw ExitCode.failure
        } catch {
            FileHandle.standardError.write(Data("pd-run: rank \(communicator.rank): \(error)\n".utf8))
            (communicator as? MPICommunicator)?.abort(code: 1)
            throw ExitCode.failure
        }
    }
}

/// Token ids of a comma-separated option (the same rule for the prompt and the stop ids).
func parseIDs(_ text: String, option: String) throws -> [Int32] {
    try CommaList.integers(text, option: option, atLeast: 0, expected: "a token id (non-negative integer)")
}

/// `--weights-dtype auto|bf16|f32`.
extension WeightsDType: ExpressibleByArgument {}
