import ArgumentParser
import Benchmarks
import DeepSeekModel

/// `pd-bench decode`: see DecodeBenchmark.
struct DecodeBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "decode",
        abstract: "Decode ms/step and tokens/s per batch size against a same-run weight-streaming floor."
    )

    @Option(help: "Built-in model name or HF folder.") var model = "bench"
    @Option(help: "Linear weights in memory: \(WeightsDType.help).") var weightsDtype: WeightsDType = .auto
    @Option(help: "Tokens already in each sequence's cache when timing starts.") var context = 512
    @Option(help: "Timed decode steps per batch size.") var steps = 64
    @Option(help: "Comma-separated batch sizes.") var batch = "1,4,8"
    @Option(help: "BLAS threads (and read-pass threads).") var threads = 2
    @Flag(help: "Print one JSON object instead of a table.") var json = false

    func run() throws {
        let batches = try positiveList(batch, option: "--batch")
        let report = try DecodeBenchmark(model: model, weightsDType: weightsDtype, context: context, steps: steps, batches: batches, threads: threads).run()
        print(json ? report.json() : report.text())
    }
}
