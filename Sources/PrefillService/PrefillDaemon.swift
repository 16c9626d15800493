import ContextParallel
import DeepSeekModel
import Engine
import Foundation
import KVCache
import Kernels
import Logging
import ServiceSupport
import Transport
import Wire

public struct PrefillOptions: Sendable {
    public var host = "127.0.0.1"
    public var port = 50061
    public var modelName = ""
    /// Prompt tokens per batch (a longer prompt runs alone).
    public var maxBatchTokens = 8192
    public var maxBatchRequests = 32
    /// Chunked prefill: tokens per request per step (nil = whole prompts).
    public var chunkTokens: Int?
    /// Tokens the prefill KV cache holds (batches being computed + KV still being shipped).
    public var cacheTokens = 32768
    public var pageSize = 64
    public init() {}
}

/// pd-prefill: every rank calls `run()`. Rank 0 serves `Prefill` / `Info` / health over gRPC,
/// batches waiting prompts and broadcasts each batch; all ranks run the PCP prefill; rank 0 ships
/// each layer's latent KV on the request's stream as soon as the layer is done (the handler thread
/// sends while the next layer computes), then the first token.
public final class PrefillDaemon: @unchecked Sendable {
    let model: DeepSeekTransformer
    let communicator: Communicator
    let options: PrefillOptions
    let logger: Logger
    let cache: PagedLatentCache
    let engine: PrefillEngine
    private let incoming = BlockingQueue<PrefillJob>()
    private var server: TransportServer?
    private let pagesFreed = NSCondition()
    private var nextID = 0
    private let idLock = NSLock()

    public init(model: DeepSeekTransformer, communicator: Communicator, options: PrefillOptions, logger: Logger) throws {
        self.model = model
        self.communicator = communicator
        self.options = options
        self.logger = logger
        let c = model.config
        cache = try PagedLatentCache(layers: c.numHiddenLayers, rowWidth: c.latentRowWidth, pageSize: options.pageSize,
                                     pageCount: (options.cacheTokens + options.pageSize - 1) / options.pageSize)
        engine = PrefillEngine(model: model, communicator: communicator, chunkTokens: options.chunkTokens)
    }

    /// Bound port (rank 0, after start).
    public var port: Int { server?.port ?? options.port }

    /// Serves until SIGTERM/SIGINT (rank 0) and the stop broadcast (all ranks).
    public func run() throws {
        if communicator.rank == 0 {
            try runRoot()
        } else {
            try runFollower()
        }
    }

    /// Asks rank 0 to drain and stop (as SIGTERM does).
    public func requestStop() { incoming.close() }

    // MARK: Rank 0

    private func runRoot() throws {
        let server = TransportServer(host: options.host, port: options.port, maxMessageBytes: 64 << 20)
        server.registerServerStreaming(MethodPath.prefill) { [unowned self] context, bytes, writer in
            try self.handlePrefill(context: context, bytes: bytes, writer: writer)
        }
        server.registerUnary(MethodPath.info) { [unowned self] _, _ in
            let c = self.model.config
            return InfoResponse(modelFingerprint: self.model.fingerprint, modelName: self.options.modelName,
                                    layers: UInt32(c.numHiddenLayers), rowWidth: UInt32(c.latentRowWidth),
                                    ranks: UInt32(self.communicator.size)).encoded()
        }
        server.registerHealthService(services: [MethodPath.prefillService])
        try server.start()
        self.server = server
        let signals = TerminationSignal { [weak self] sig in
            self?.logger.info("signal \(sig): draining")
            self?.requestStop()
        }
        logger.info("serving Prefill", metadata: ["listen": "\(options.host):\(server.port)", "ranks": "\(communicator.size)",
                                                  "model": "\(model.fingerprint)"])
        defer { withExtendedLifetime(signals) {} }
        var pending: [PrefillJob] = []
        while let batch = nextBatch(&pending) {
            try runBatch(batch)
        }
        // Queue closed: every accepted job has been computed; stop the other ranks, then drain calls.
        _ = try communicator.broadcastBytesWhenIdle(BatchMessage.stop.encode(), root: 0)
        server.shutdown(gracePeriod: 10)
        logger.info("stopped")
    }

    /// Waiting jobs into one batch: up to maxBatchTokens prompt tokens and maxBatchRequests
    /// requests, oldest first; cancelled jobs are dropped. nil once stopping and nothing is left.
    private func nextBatch(_ pending: inout [PrefillJob]) -> [PrefillJob]? {
        while true {
            pending += incoming.drain()
            pending.removeAll { job in
                if job.isCancelled {
                    logger.info("dropped cancelled request from the queue", metadata: ["request": "\(job.id)"])
                    job.events.push(.failed(.cancelled, "cancelled before prefill"))
                    job.letGo()
                    return true
                }
                return false
            }
            if !pending.isEmpty { break }
            guard let job = incoming.pop(timeout: 0.5) else {
                if incoming.isClosed && incoming.count == 0 { return nil }
                continue
            }
            pending.append(job)
        }
        var batch: [PrefillJob] = [], tokens = 0
        while let job = pending.first, batch.count < options.maxBatchRequests,
              batch.isEmpty || tokens + job.prompt.count <= options.maxBatchTokens {
            // Reserve pages; wait while earlier batches' KV is still being shipped.
            var sequence: Int?
            while sequence == nil {
                do { sequence = try cache.allocate(capacity: job.prompt.count) } catch {
                    if !batch.isEmpty { return batch }   // run what fits; this job waits for the next batch
                    pagesFreed.lock(); _ = pagesFreed.wait(until: Date(timeIntervalSinceNow: 0.05)); pagesFreed.unlock()
                }
            }
            job.assign(sequence: sequence!)
            batch.append(job)
            tokens += job.prompt.count
            pending.removeFirst()
        }
        return batch
    }

    private func runBatch(_ jobs: [PrefillJob]) throws {
        let prompts = jobs.map(\.prompt)
        _ = try communicator.broadcastBytesWhenIdle(BatchMessage.batch(prompts).encode(), root: 0)
        let start = monotonicSeconds()
        do {
            let logits = try communicator.agreed {
                try engine.run(prompts: prompts, sequences: jobs.map { $0.sequence! }, cache: cache,
                               cancellation: { jobs[$0].isCancelled }) { layer, finished in
                    for i in finished { jobs[i].events.push(.layerReady(layer)) }
                }
            }
            let computeEnd = monotonicSeconds()
            let seconds = computeEnd - start
            for (i, job) in jobs.enumerated() {
                guard let row = logits?[i], !row.isEmpty else {
                    job.events.push(.failed(.cancelled, "cancelled during prefill"))
                    logger.info("dropped cancelled request from its batch", metadata: ["request": "\(job.id)"])
                    continue
                }
                let sampler = Sampler(params: job.sampling, vocabSize: model.config.vocabSize)
                let first = row.withUnsafeBufferPointer { sampler.sample(logits: $0) }
                job.events.push(.done(firstToken: first.token, logprob: first.logprob, seconds: seconds, computeEnd: computeEnd))
            }
            logger.debug("batch done", metadata: ["requests": "\(jobs.count)", "tokens": "\(prompts.reduce(0) { $0 + $1.count })",
                                                  "seconds": "\(String(format: "%.3f", seconds))"])
        } catch let failure as RankFailures {
            logger.error("prefill batch failed: \(failure)")
            for job in jobs { job.events.push(.failed(.internal, "prefill failed: \(failure)")) }
        }
        for job in jobs { job.letGo() }
        signalPagesFreed()
    }

    private func signalPagesFreed() { pagesFreed.lock(); pagesFreed.broadcast(); pagesFreed.unlock() }

    // MARK: The Prefill call (one handler thread per call)

    private func handlePrefill(context: RequestContext, bytes: [UInt8], writer: StreamWriter) throws {
        let request = try bytes.withUnsafeBytes { try PrefillRequest(decoding: $0) }
        let job = try admit(request)
        defer { job.letGo(); signalPagesFreed() }
        let c = model.config
        let chunker: KVChunker
        do {
            chunker = try KVChunker(requestId: request.requestId, modelFingerprint: model.fingerprint, rowWidth: c.latentRowWidth,
                                    dtype: request.dtype, maxChunkBytes: request.maxChunkBytes > 0 ? Int(request.maxChunkBytes) : KVChunker.defaultMaxChunkBytes,
                                    pageSize: Int(request.pageSize))
        } catch {
            job.cancel()
            throw TransportError.status(.invalidArgument, String(describing: error))
        }
        guard incoming.push(job) else { throw TransportError.status(.unavailable, "prefill daemon is shutting down") }
        let rows = Scratch(capacity: job.prompt.count * c.latentRowWidth)     // [tokens, row_width], one layer at a time
        var sendSeconds = 0.0
        while true {
            guard let event = job.events.pop(timeout: 0.05) else {
                if writer.isCancelled { job.cancel(); throw TransportError.status(.cancelled, "prefill \(request.requestId) cancelled by the caller") }
                continue
            }
            switch event {
            case .layerReady(let layer):
                guard let sequence = job.sequence else { continue }
                try cache.read(sequence: sequence, layer: layer, start: 0, count: job.prompt.count, into: rows.pointer)
                do {
                    try chunker.forEachChunk(layer: layer, rows: UnsafeBufferPointer(start: rows.pointer, count: job.prompt.count * c.latentRowWidth)) { header, payload in
                        let sendStart = monotonicSeconds()
                        try PrefillResponse.withChunkEncoder(header: header, payload: payload) { try writer.send($0) }
                        sendSeconds += monotonicSeconds() - sendStart
                    }
                } catch {
                    job.cancel()
                    throw error
                }
            case .done(let token, let logprob, let seconds, let computeEnd):
                // Every layer event came before this one, so all KV has been sent by now.
                let done = PrefillDone(firstToken: UInt32(token), firstTokenLogprob: logprob, totalPayloadBytes: chunker.payloadBytesProduced,
                                       tokens: UInt32(job.prompt.count), layers: UInt32(c.numHiddenLayers), prefillSeconds: seconds,
                                       pcpRanks: UInt32(communicator.size), chunks: chunker.nextChunkIndex,
                                       kvSendSeconds: sendSeconds, kvExposedSeconds: max(0, monotonicSeconds() - computeEnd))
                try writer.send(PrefillResponse.done(done))
                return
            case .failed(let code, let message):
                throw TransportError.status(code, message)
            }
        }
    }

    /// Validates a request against this daemon's model and limits.
    private func admit(_ r: PrefillRequest) throws -> PrefillJob {
        let c = model.config
        func invalid(_ field: String, _ why: String) -> TransportError { .status(.invalidArgument, "PrefillRequest.\(field): \(why)") }
        guard r.modelFingerprint == model.fingerprint else {
            throw TransportError.status(.failedPrecondition,
                                        "model fingerprint mismatch: caller has \(r.modelFingerprint), this prefill serves \(model.fingerprint)")
        }
        // The first token only: one new token.
        let sampling = RequestAdmission.params(r.sampling, maxNewTokens: 1)
        try RequestAdmission.admit(prompt: r.promptTokenIds, params: sampling, config: c, message: "PrefillRequest")
        guard r.promptTokenIds.count <= cache.pageCount * cache.pageSize else {
            throw TransportError.status(.resourceExhausted, String(describing: PrefillServiceError.cacheTooSmall(
                tokens: r.promptTokenIds.count, cacheTokens: cache.pageCount * cache.pageSize)))
        }
        guard r.dtype == .f32 || r.dtype == .bf16 else { throw invalid("dtype", "expected F32 or BF16") }
        let id: String
        if r.requestId.isEmpty {
            idLock.lock(); nextID += 1; id = "prefill-\(nextID)"; idLock.unlock()
        } else {
            id = r.requestId
        }
        return PrefillJob(id: id, prompt: r.promptTokenIds.map { Int32($0) }, sampling: sampling, cache: cache)
    }

    // MARK: Ranks > 0

    private func runFollower() throws {
        // SIGTERM reaches every rank; only rank 0 decides when to stop.
        let signals = TerminationSignal { _ in }
        defer { withExtendedLifetime(signals) {} }
        while true {
            switch try BatchMessage.decode(communicator.broadcastBytesWhenIdle(nil, root: 0)) {
            case .stop:
                return
            case .batch(let prompts):
                var sequences: [Int] = []
                do {
                    _ = try communicator.agreed {
                        sequences = try prompts.map { try cache.allocate(capacity: $0.count) }
                        return try engine.run(prompts: prompts, sequences: sequences, cache: cache, cancellation: { _ in false })
                    }
                } catch let failure as RankFailures {
                    logger.error("prefill batch failed on rank \(communicator.rank): \(failure)")
                }
                for s in sequences { cache.release(s) }
            }
        }
    }
}
