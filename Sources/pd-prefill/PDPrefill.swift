import ArgumentParser
import Basics
import ContextParallel
import DeepSeekModel
import Foundation
import Kernels
import PrefillService
import ServiceSupport
import Transport
import WeightOptions

/// The prefill node daemon: `mpirun -np P pd-prefill --model M --listen 127.0.0.1:PORT`.
@main
struct PDPrefill: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pd-prefill",
        abstract: "Prefill daemon: PCP prefill over the MPI ranks it runs on, latent KV shipped to decode over gRPC.")

    @Option(help: "Model folder (HF format) or built-in name: \(BuiltinModel.names).")
    var model: String = "tiny"

    @OptionGroup var weights: WeightOptions

    @Option(help: "Address rank 0 serves on (host:port).")
    var listen: String = "127.0.0.1:50061"

    @Option(help: "Prompt tokens to compute per batch (tokens taken from the prefix cache not counted).")
    var maxBatchTokens: Int = 8192

    @Option(help: "Requests per batch.")
    var maxBatchRequests: Int = 32

    @Option(help: "Chunked prefill: tokens per request per step.")
    var chunkTokens: Int?

    @Option(help: "Tokens the prefill KV cache holds (batches in flight + KV being shipped).")
    var cacheTokens: Int = 32768

    @Option(help: "Tokens per KV page: the prefix cache reuses whole pages.")
    var pageSize: Int = PrefillOptions().pageSize

    @Flag(name: .customLong("enable-prefix-caching"), inversion: .prefixedNo,
          help: "Reuse the KV pages of earlier prompts' common prefixes (automatic prefix caching).")
    var enablePrefixCaching = true

    @Option(help: "gRPC calls served at once; more are refused with RESOURCE_EXHAUSTED.")
    var maxConcurrentCalls: Int = PrefillOptions().maxConcurrentCalls

    @OptionGroup var security: ServerSecurityFlags

    @Option(help: "Serve Prometheus text on http://HOST:PORT/metrics from rank 0 (default: no metrics server).")
    var metricsListen: String?

    @Option(help: "Compute threads per rank: BLAS and kernel workers (default: $OPENBLAS_NUM_THREADS, else cores / ranks).")
    var threads: Int?

    @Option(help: "trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    func run() throws {
        MallocArenas.limit(to: 4)
        let communicator: Communicator = MPICommunicator.isUnderMPIRun ? try MPICommunicator.initialize(yieldWhenIdle: true) : SingleRankCommunicator()
        let logger = DaemonLogging.logger(label: "pd-prefill[\(communicator.rank)]", level: logLevel)
        BLAS.setThreads(threads ?? ThreadDefaults.blasThreads(ranks: communicator.size))
        let (host, port) = try HostPort.parse(listen, option: "--listen")
        let metricsAddress = try metricsListen.map { try HostPort.parse($0, option: "--metrics-listen") }
        do {
            let daemon = try communicator.agreed { () -> PrefillDaemon in
                let transformer = try weights.loadModel(try BuiltinModel.resolve(model), ranksOnThisHost: communicator.ranksOnThisHost)
                var options = PrefillOptions()
                options.host = host; options.port = port; options.modelName = model
                options.maxBatchTokens = maxBatchTokens; options.maxBatchRequests = maxBatchRequests
                options.chunkTokens = chunkTokens; options.cacheTokens = cacheTokens
                options.pageSize = pageSize; options.prefixCaching = enablePrefixCaching
                options.maxConcurrentCalls = maxConcurrentCalls
                options.metricsListen = metricsAddress
                // Only rank 0 serves, so only its host needs the files.
                if communicator.rank == 0 {
                    options.serverSecurity = try security.load()
                }
                return try PrefillDaemon(model: transformer, communicator: communicator, options: options, logger: logger)
            }
            try daemon.run()
            (communicator as? MPICommunicator)?.finalize()
        } catch let failure as RankFailures {
            if communicator.rank == 0 { logger.critical("cannot start: \(failure)") }
            (communicator as? MPICommunicator)?.finalize()
            throw ExitCode.failure
        } catch {
            logger.critical("rank \(communicator.rank): \(error)")
            (communicator as? MPICommunicator)?.abort(code: 1)
            throw ExitCode.failure
        }
    }
}
