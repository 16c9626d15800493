import ArgumentParser
import Benchmarks
import DeepSeekModel
import WeightOptions

/// `pd-bench prefill`: see PrefillBenchmark.
struct PrefillBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prefill",
        abstract: "Prefill throughput per prompt length: tokens/s, GFLOP/s and MFU against a same-run peak of the model's GEMM path."
    )

    @Option(help: "Built-in model name or HF folder.") var model = "bench"
    @OptionGroup var weights: WeightOptions
    @Option(help: "Comma-separated prompt lengths.") var tokens = "512,1024,2048,4096"
    @Option(help: "BLAS threads.") var threads = 2
    @Option(help: "Timed runs per length (best is reported; the first also grows the scratch buffers).") var repeats = 3
    @Flag(help: "Print one JSON object instead of a table.") var json = false

    func run() throws {
        let lengths = try positiveList(tokens, option: "--tokens")
        let folder = try BuiltinModel.resolve(model)
        let report = try PrefillBenchmark(model: model, weightsDType: weights.weightsDtype, residency: weights.residency(for: folder, ranksOnThisHost: 1),
                                          lengths: lengths, threads: threads, repeats: repeats).run()
        print(json ? report.json() : report.text())
    }
}
