import DeepSeekModel
import Engine
import Foundation
import KVCache
import Kernels
import Logging
import ServiceSupport
import Transport
import Wire

public struct DecodeOptions: Sendable {
    public var host = "127.0.0.1"
    public var port = 50051
    /// Prefill daemons ("host:port"); each request goes to the ready one where it costs least (`PrefillPool`).
    public var prefillTargets: [String] = []
    /// Calls served at once; more are refused with RESOURCE_EXHAUSTED.
    public var maxConcurrentCalls = TransportServer.defaultMaxConcurrentCalls
    /// Requests that may wait for KV pages (FIFO) when the cache is full; more are refused at once.
    public var maxQueuedRequests = 64
    /// Longest wait for KV pages (also bounded by each request's deadline).
    public var maxQueueSeconds = 30.0
    public var kvPages = 4096
    /// How the cache holds latent rows (bf16: half the bytes per page).
    public var kvDType = LatentDType.f32
    public var pageSize = 16
    public var maxBatch = 32
    /// Which waiting request gets pages first and which running one is preempted (vLLM's --scheduling-policy).
    public var schedulingPolicy = SchedulingPolicy.fcfs
    /// N-gram speculative decoding (nil: one token per sequence and step).
    public var speculation: SpeculativeConfig?
    /// Deadline of each Prefill call.
    public var prefillTimeoutSeconds = 120.0
    public var wireDType: WireDType = .f32
    /// Where to serve Prometheus /metrics ("host", port); nil: no metrics server.
    public var metricsListen: (host: String, port: Int)?
    public var maxChunkBytes = KVChunker.defaultMaxChunkBytes
    /// What Generate / Stats callers must bring (TLS, token).
    public var serverSecurity = ServerSecurity.plaintext
    /// How this daemon reaches the prefill daemons (their CA, its client certificate, the token).
    public var prefillSecurity = ClientSecurity.plaintext
    public init() {}
}

/// pd-decode: serves `Generate` (token streaming) and `Stats`. For each request it reserves KV
/// pages for the prompt (more come as the sequence grows; a sequence may be preempted and
/// recomputed when they run out), calls `Prefill` on a prefill daemon, verifies and writes the
/// streamed latent KV into its paged cache, and joins the sequence to the continuous batch.
public final class DecodeDaemon: @unchecked Sendable {
    let model: DeepSeekTransformer
    let options: DecodeOptions
    let logger: Logger
    let cache: PagedLatentCache
    let batcher: ContinuousBatcher
    let pages: PageAdmission
    let stats = StatsBook()
    let metrics: DecodeMetrics
    let prefills: PrefillPool
    private var server: TransportServer?
    private let lock = NSLock()
    private var nextID = 0

    public init(model: DeepSeekTransformer, options: DecodeOptions, logger: Logger) throws {
        guard !options.prefillTargets.isEmpty else { throw DecodeServiceError.noPrefillTargets }
        self.model = model
        self.options = options
        self.logger = logger
        let c = model.config
        cache = try PagedLatentCache(layers: c.numHiddenLayers, rowWidth: c.latentRowWidth, pageSize: options.pageSize, pageCount: options.kvPages,
                                     dtype: options.kvDType, resident: true)
        let metrics = DecodeMetrics()
        self.metrics = metrics
        batcher = ContinuousBatcher(model: model, cache: cache, maxBatch: options.maxBatch, speculation: options.speculation) { step in
            metrics.speculated(step)
        }
        let batcher = batcher
        pages = PageAdmission(cache: cache, maxQueued: options.maxQueuedRequests, maxWaitSeconds: options.maxQueueSeconds) {
            batcher.pagesToLeave(forPriority: $0)
        }
        let box = HealthBox()
        prefills = PrefillPool(targets: options.prefillTargets, security: options.prefillSecurity, fingerprint: model.fingerprint,
                               logger: logger) { ready in
            box.board?.set(ready ? .serving : .notServing)
        }
        healthBox = box
    }

    /// Where the prefill pool's readiness reaches the health board, which exists only once serving.
    private final class HealthBox: @unchecked Sendable { var board: HealthStatusBoard? }
    private let healthBox: HealthBox

    public var port: Int { server?.port ?? options.port }

    public func start() throws {
        batcher.start()
        let server = TransportServer(host: options.host, port: options.port, maxMessageBytes: 64 << 20,
                                     maxConcurrentCalls: options.maxConcurrentCalls, security: options.serverSecurity)
        server.registerServerStreaming(MethodPath.generate) { [unowned self] context, bytes, writer in
            try GenerateSession(daemon: self, context: context, writer: writer).run(requestBytes: bytes)
        }
        server.registerUnary(MethodPath.stats) { [unowned self] _, bytes in
            _ = try StatsRequest(decoding: bytes)   // garbage is INVALID_ARGUMENT, not an answer
            return self.statsResponse().encoded()
        }
        // NOT_SERVING until a prefill daemon serving our model answers (readiness).
        healthBox.board = server.registerHealthService(services: [MethodPath.decodeService], initial: .notServing)
        try server.start()
        self.server = server
        if let listen = options.metricsListen {
            try metrics.endpoint.serve(host: listen.host, port: listen.port, logger: logger) { [unowned self] in
                self.metrics.refresh(active: self.stats.active, waitingForPages: self.pages.waiting,
                                     freePages: self.cache.freePageCount, totalPages: self.cache.pageCount)
            }
        }
        prefills.start()
        if options.serverSecurity.tls == nil,
           let warning = ListenAddress.plaintextWarning(host: options.host, port: server.port, what: "Generate",
                                                        remedy: "give --tls-cert/--tls-key (and --tls-client-ca, --auth-token-file)") {
            logger.warning("\(warning)")
        }
        logger.info("serving Generate", metadata: ["listen": "\(options.host):\(server.port)", "prefill": "\(options.prefillTargets.joined(separator: ","))",
                                                   "security": "\(options.serverSecurity.summary)",
                                                   "kv_pages": "\(options.kvPages)", "page_size": "\(options.pageSize)",
                                                   "kv_dtype": "\(cache.dtype)", "kv_bytes": "\(cache.pageCount * cache.layers * cache.bytesPerPage)", "model": "\(model.fingerprint)",
                                                   "weights_dtype": "\(model.weights.dtype.rawValue)", "weights_memory": "\(model.weights.residency.rawValue)"])
        if let s = options.speculation {
            logger.info("speculative decoding: ngram, \(s.draftTokens) drafts per sequence, lookup \(s.minNgram)...\(s.maxNgram) tokens")
        }
    }

    /// Drains calls in flight (up to the grace period), then stops the batcher.
    public func shutdown(gracePeriod: Double = 10) {
        server?.shutdown(gracePeriod: gracePeriod)
        batcher.stop()
        prefills.stop()
        logger.info("stopped")
    }

    func newRequestID() -> String {
        lock.lock(); defer { lock.unlock() }
        nextID += 1
        return "gen-\(getpid())-\(nextID)"
    }

    func statsResponse() -> StatsResponse {
        StatsResponse(activeRequests: UInt32(stats.active), freeKVPages: UInt64(cache.freePageCount),
                      totalKVPages: UInt64(cache.pageCount), pageSize: UInt32(cache.pageSize), recent: stats.recent)
    }
}

public enum DecodeServiceError: Error, CustomStringConvertible {
    case noPrefillTargets
    public var description: String {
        switch self {
        case .noPrefillTargets: return "no prefill daemon configured: pass --prefill HOST:PORT"
        }
    }
}

/// Active count and the most recent finished requests, for `Stats`.
final class StatsBook: @unchecked Sendable {
    private let lock = NSLock()
    private var activeCount = 0
    private var finished: [RequestStats] = []
    private let keep = 64

    var active: Int { lock.lock(); defer { lock.unlock() }; return activeCount }
    func begin() { lock.lock(); activeCount += 1; lock.unlock() }
    func end(_ s: RequestStats) {
        lock.lock()
        activeCount -= 1
        finished.insert(s, at: 0)
        if finished.count > keep { finished.removeLast() }
        lock.unlock()
    }
    var recent: [RequestStats] { lock.lock(); defer { lock.unlock() }; return finished }
}
