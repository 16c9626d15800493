import ArgumentParser
import Benchmarks
import Wire

/// `pd-bench transfer-receive`: see TransferReceiver.
struct TransferReceive: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "transfer-receive",
        abstract: "KV transfer benchmark receiver: gRPC vs raw TCP on loopback, interleaved rounds, medians.")

    @Option(help: "gRPC port of transfer-send.") var grpcPort: Int
    @Option(help: "Raw TCP port of transfer-send.") var tcpPort: Int
    @Option(help: "Bytes per transfer, in MiB.") var mib = 2048
    @Option(parsing: .upToNextOption, help: "Chunk sizes in KiB.") var chunkKib: [Int] = [256, 1024, 4096, 16384]
    @Option(help: "Interleaved rounds (each runs every size over gRPC and TCP).") var rounds = 3
    @Option(help: "Tokens per synthetic layer (576 floats each), 1...16384: 16384 (36 MiB) streams the source from DRAM; 4096 (9 MiB) stays in L3, as a layer shipped right after it was computed may.")
    var layerTokens = TransferBench.tokensPerLayer
    @Option(help: "Wire dtype: f32 or bf16.") var dtype = "f32"
    @Option(help: "What the receiver does per chunk: verify (XXH3 + header checks), copy (verify, then write rows into a KV buffer, as decode does) or none (parse only).")
    var sink = "verify"
    @Option(help: "Untimed gRPC transfer before the rounds, in MiB (the connection's flow-control windows and the heap reach their steady state, as on a long-lived prefill→decode channel).")
    var warmupMib = 256
    @Flag(help: "Print one JSON object instead of the table.") var json = false

    func run() throws {
        var receiver = TransferReceiver(grpcPort: grpcPort, tcpPort: tcpPort)
        guard let wireDType = ["f32": WireDType.f32, "bf16": .bf16][dtype] else {
            throw ValidationError("--dtype must be f32 or bf16, found \(dtype)")
        }
        guard let sinkMode = TransferReceiver.Sink(rawValue: sink) else {
            throw ValidationError("--sink must be verify, copy or none, found \(sink)")
        }
        receiver.mib = mib; receiver.chunkKib = chunkKib; receiver.rounds = rounds; receiver.layerTokens = layerTokens
        receiver.dtype = wireDType; receiver.sink = sinkMode; receiver.warmupMib = warmupMib
        let summary = try receiver.run(progress: json ? nil : { print($0) })
        print(json ? try summary.json() : summary.text())
    }
}
