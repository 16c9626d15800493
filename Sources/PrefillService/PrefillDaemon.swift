import ContextParallel
import DeepSeekModel
import Foundation
import Logging
import ServiceSupport
import Transport
import Wire

public struct PrefillOptions: Sendable {
    public var host = "127.0.0.1"
    public var port = 50061
    public var modelName = ""
    /// Prompt tokens to compute per batch, prefix-cached ones not counted (a longer prompt runs alone).
    public var maxBatchTokens = 8192
    public var maxBatchRequests = 32
    /// Chunked prefill: tokens per request per step (nil = whole prompts).
    public var chunkTokens: Int?
    /// Tokens the prefill KV cache holds (batches being computed + KV still being shipped).
    public var cacheTokens = 32768
    public var pageSize = 64
    /// Automatic prefix caching: prompts share the full KV pages of earlier prompts' common prefixes.
    public var prefixCaching = true
    /// Calls served at once; more are refused with RESOURCE_EXHAUSTED.
    public var maxConcurrentCalls = TransportServer.defaultMaxConcurrentCalls
    /// Where rank 0 serves Prometheus /metrics ("host", port); nil: no metrics server.
    public var metricsListen: (host: String, port: Int)?
    /// What Prefill / Info callers (decode daemons) must bring (TLS, token).
    public var serverSecurity = ServerSecurity.plaintext
    public init() {}
}

/// pd-prefill: every rank calls `run()`. Rank 0 serves `Prefill` / `Info` / health over gRPC
/// (`PrefillHandler` per call) and runs the `PrefillScheduler`'s root loop; the other ranks run its
/// follower loop. Each layer's latent KV is shipped on the request's stream as soon as the layer is
/// done (the handler thread sends while the next layer computes), then the first token.
public final class PrefillDaemon: @unchecked Sendable {
    let model: DeepSeekTransformer
    let communicator: Communicator
    let options: PrefillOptions
    let logger: Logger
    let scheduler: PrefillScheduler
    private var server: TransportServer?

    public init(model: DeepSeekTransformer, communicator: Communicator, options: PrefillOptions, logger: Logger) throws {
        self.model = model
        self.communicator = communicator
        self.options = options
        self.logger = logger
        scheduler = try PrefillScheduler(model: model, communicator: communicator,
                                         budgets: PrefillBudgets(maxBatchTokens: options.maxBatchTokens, maxBatchRequests: options.maxBatchRequests),
                                         chunkTokens: options.chunkTokens, cacheTokens: options.cacheTokens, pageSize: options.pageSize,
                                         prefixCaching: options.prefixCaching, logger: logger)
    }

    /// Bound port (rank 0, after start).
    public var port: Int { server?.port ?? options.port }

    /// Serves until SIGTERM/SIGINT (rank 0) and the stop broadcast (all ranks).
    public func run() throws {
        if communicator.rank == 0 {
            try runRoot()
        } else {
            // SIGTERM reaches every rank; only rank 0 decides when to stop.
            let signals = TerminationSignal { _ in }
            defer { withExtendedLifetime(signals) {} }
            try scheduler.runFollower()
        }
    }

    /// Asks rank 0 to drain and stop (as SIGTERM does).
    public func requestStop() { scheduler.stop() }

    private func runRoot() throws {
        let server = TransportServer(host: options.host, port: options.port, maxMessageBytes: 64 << 20,
                                     maxConcurrentCalls: options.maxConcurrentCalls, security: options.serverSecurity)
        let handler = PrefillHandler(scheduler: scheduler)
        server.registerServerStreaming(MethodPath.prefill) { context, bytes, writer in
            try handler.handle(context: context, bytes: bytes, writer: writer)
        }
        server.registerUnary(MethodPath.info) { [unowned self] _, bytes in
            _ = try InfoRequest(decoding: bytes)   // garbage is INVALID_ARGUMENT, not an answer
            let c = self.model.config
            return InfoResponse(modelFingerprint: self.model.fingerprint, modelName: self.options.modelName,
                                    layers: UInt32(c.numHiddenLayers), rowWidth: UInt32(c.latentRowWidth),
                                    ranks: UInt32(self.communicator.size)).encoded()
        }
        server.registerHealthService(services: [MethodPath.prefillService])
        try server.start()
        self.server = server
        if let listen = options.metricsListen {
            let scheduler = self.scheduler
            try scheduler.metrics.endpoint.serve(host: listen.host, port: listen.port, logger: logger) {
                // Pages only the prefix cache holds are free to take (evicted on demand), as vLLM counts them.
                scheduler.metrics.refresh(freePages: scheduler.cache.freePageCount + scheduler.cache.indexOnlyPageCount,
                                          totalPages: scheduler.cache.pageCount)
            }
        }
        let signals = TerminationSignal { [weak self] sig in
            self?.logger.info("signal \(sig): draining")
            self?.requestStop()
        }
        if options.serverSecurity.tls == nil,
           let warning = ListenAddress.plaintextWarning(host: options.host, port: server.port, what: "Prefill",
                                                        remedy: "give --tls-cert/--tls-key (and --tls-client-ca, --auth-token-file)") {
            logger.warning("\(warning)")
        }
        logger.info("serving Prefill", metadata: ["listen": "\(options.host):\(server.port)", "ranks": "\(communicator.size)",
                                                  "security": "\(options.serverSecurity.summary)",
                                                  "model": "\(model.fingerprint)",
                                                  "weights_dtype": "\(model.weights.dtype.rawValue)", "weights_memory": "\(model.weights.residency.rawValue)"])
        defer { withExtendedLifetime(signals) {} }
        // Returns once stopped and every accepted job is computed (the other ranks are stopped too).
        try scheduler.runRoot()
        server.shutdown(gracePeriod: 10)
        logger.info("stopped")
    }
}
