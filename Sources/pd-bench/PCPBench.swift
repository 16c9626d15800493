import ArgumentParser
import Benchmarks
import DeepSeekModel
import WeightOptions

/// `pd-bench pcp`: see PCPBenchmark.
struct PCPBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pcp",
        abstract: "PCP prefill TTFT: 1 rank × 1 thread, 1 rank × 2 threads, mpirun -np 2 × 1 thread."
    )

    @Option(help: "Built-in model name or HF folder.") var model = "bench"
    @Option(help: "Linear weights in memory: \(WeightsDType.help).") var weightsDtype: WeightsDType = .auto
    @Option(help: "Prompt length.") var tokens = 4096
    @Option(help: "Timed runs per configuration and round (the best counts).") var repeats = 1
    @Option(help: "Interleaved rounds of 1 rank × 2 threads and the MPI run (1 rank × 1 thread runs once).") var rounds = 3
    @Option(help: "MPI ranks of the distributed configuration.") var ranks = 2
    @Flag(help: "Print one JSON object instead of a table.") var json = false

    func run() throws {
        let report = try PCPBenchmark(model: model, weightsDType: weightsDtype, tokens: tokens, repeats: repeats, rounds: rounds, ranks: ranks).run()
        print(json ? report.json() : report.text())
    }
}

/// Hidden: one rank of `pd-bench pcp`'s distributed configuration (started by mpirun).
struct PCPWorker: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: PCPBenchmark.workerCommand, abstract: "One MPI rank of pd-bench pcp.",
                                                    shouldDisplay: false)

    @Option var model = "bench"
    @Option var weightsDtype: WeightsDType = .auto
    @Option var tokens = 4096
    @Option var repeats = 2

    func run() throws {
        try PCPWorkerRank.run(model: model, weightsDType: weightsDtype, tokens: tokens, repeats: repeats)
    }
}
