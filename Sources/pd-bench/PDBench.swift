import ArgumentParser
import DeepSeekModel

/// Benchmarks against the machine's own limits, measured in the same run (see BENCHMARKS.md).
@main
struct PDBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pd-bench",
        abstract: "LatentServe benchmarks: prefill, decode, PCP and KV transfer, each with its hardware yardstick.",
        subcommands: [MPISelfTest.self, TransferSend.self, TransferReceive.self, PrefillBench.self, DecodeBench.self, LinearBench.self, PCPBench.self, PCPWorker.self]
    )
}
