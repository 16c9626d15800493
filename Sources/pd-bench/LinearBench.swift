import ArgumentParser
import Benchmarks

/// `pd-bench linear`: see LinearBenchmark.
struct LinearBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "linear",
        abstract: "One linear layer per stored weight dtype: ms per call, GB/s against a same-run read floor, GFLOP/s."
    )

    @Option(help: "Comma-separated stored dtypes: f32, bf16, f16, fp8.") var dtype = "f32,bf16,fp8"
    @Option(help: "Comma-separated x row counts (≤ 32: the skinny path; beyond: panel conversion + sgemm).") var rows = "1,4,8"
    @Option(help: "Comma-separated weight shapes OUTxIN.") var shape = "2048x5632,5632x2048,32000x2048"
    @Option(help: "BLAS threads (and read-pass threads).") var threads = 2
    @Option(help: "MiB of weight copies cycled per timing (past the last-level cache).") var sweepMib = 256
    @Option(help: "Timed sweeps per row count and read passes before/after (the best is reported).") var repeats = 9
    @Flag(help: "Print one JSON object instead of a table.") var json = false

    func run() throws {
        let benchmark = LinearBenchmark(dtypes: dtype.split(separator: ",").map(String.init), rows: try positiveList(rows, option: "--rows"),
                                        shapes: try LinearBenchmark.parseShapes(shape), threads: threads, sweepMiB: sweepMib, repeats: repeats)
        let report = try benchmark.run()
        print(json ? report.json() : report.text())
    }
}
