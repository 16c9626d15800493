import ArgumentParser
import Benchmarks
import Basics
import DeepSeekModel
import KVCache
import WeightOptions

/// `pd-bench decode`: see DecodeBenchmark.
struct DecodeBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "decode",
        abstract: "Decode ms/step and tokens/s per batch size against a same-run weight-streaming floor."
    )

    @Option(help: "Built-in model name or HF folder.") var model = "bench"
    @OptionGroup var weights: WeightOptions
    @Option(help: "Tokens already in each sequence's cache when timing starts.") var context = 512
    @Option(help: "Timed decode steps per batch size.") var steps = 64
    @Option(help: "Comma-separated batch sizes.") var batch = "1,4,8"
    @Option(help: "BLAS threads (and read-pass threads).") var threads = 2
    @Option(help: "Comma-separated latent cache dtypes (f32, bf16), interleaved within each batch size.") var kvDtype = "f32"
    @Option(help: "Steps per chunk between read passes (best of \(DecodeBenchmark.adjacentPassRepeats); 0: none): each chunk against the floor at its adjacent passes' bandwidth, for hosts whose memory bandwidth changes during a run.")
    var passEvery = 0
    @Flag(help: "Also time the other weight memory (mmap ↔ huge-pages) in the same run, interleaved within each batch size.")
    var compareWeightsMemory = false
    @Flag(help: "Print one JSON object instead of a table.") var json = false

    func run() throws {
        let batches = try positiveList(batch, option: "--batch")
        let kvDTypes: [LatentDType]
        do {
            kvDTypes = try CommaList.parse(kvDtype, option: "--kv-dtype", expected: "f32 or bf16") { LatentDType(rawValue: $0) }
        } catch let error as CommaListError {
            throw ValidationError(error.description)
        }
        let folder = try BuiltinModel.resolve(model)
        let chosen = weights.residency(for: folder, ranksOnThisHost: 1)
        let residencies = compareWeightsMemory ? [chosen, chosen == .mmap ? .hugePages : .mmap] : [chosen]
        let report = try DecodeBenchmark(model: model, weightsDType: weights.weightsDtype, residencies: residencies,
                                         context: context, steps: steps, batches: batches,
                                         threads: threads, kvDTypes: kvDTypes, passEvery: passEvery).run()
        print(json ? report.json() : report.text())
    }
}
