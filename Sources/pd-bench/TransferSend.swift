import ArgumentParser
import Benchmarks

/// `pd-bench transfer-send`: see TransferSender.
struct TransferSend: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "transfer-send",
        abstract: "KV transfer benchmark sender: gRPC Prefill server + raw TCP server on 127.0.0.1.")

    @Option(help: "gRPC port (0: any free port).") var grpcPort = 0
    @Option(help: "Raw TCP port (0: any free port).") var tcpPort = 0
    @Option(help: "Write \"<grpc port> <tcp port>\" to this file once listening.") var portFile: String?
    @Option(help: "Exit after this many seconds (a bound for scripts).") var maxSeconds = 1800.0

    func run() throws {
        try TransferSender.run(grpcPort: grpcPort, tcpPort: tcpPort, portFile: portFile, maxSeconds: maxSeconds)
    }
}
