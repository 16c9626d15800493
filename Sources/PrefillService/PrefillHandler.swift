import DeepSeekModel
import Engine
import Foundation
import Kernels
import ServiceSupport
import Transport
import Wire

/// The Prefill call's transport glue, on its handler thread: decode the request, admit it, queue
/// the job, and ship its events as they come (each layer's rows as KV chunks, then PrefillDone).
final class PrefillHandler: @unchecked Sendable {
    let scheduler: PrefillScheduler
    private var nextID = 0
    private let idLock = NSLock()

    init(scheduler: PrefillScheduler) { self.scheduler = scheduler }

    func handle(context: RequestContext, bytes: [UInt8], writer: StreamWriter) throws {
        let request = try bytes.withUnsafeBytes { try PrefillRequest(decoding: $0) }
        let (job, chunker) = try admit(request)
        defer { scheduler.release(job) }
        guard scheduler.submit(job) else { throw TransportError.status(.unavailable, "prefill daemon is shutting down") }
        let c = scheduler.model.config, cache = scheduler.cache
        let rows = Scratch(capacity: job.prompt.count * c.latentRowWidth)     // [tokens, row_width], one layer at a time
        var sendSeconds = 0.0
        while true {
            guard let event = job.events.pop(timeout: 0.05) else {
                if writer.isCancelled { job.cancel(); throw context.callerGone("prefill \(request.requestId)") }
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
            case .done(let first, let promptLogprobs, let seconds, let computeEnd):
                // Every layer event came before this one, so all KV has been sent by now.
                let done = PrefillDone(firstToken: UInt32(first.token), firstTokenLogprob: first.logprob, totalPayloadBytes: chunker.payloadBytesProduced,
                                       tokens: UInt32(job.prompt.count), layers: UInt32(c.numHiddenLayers), prefillSeconds: seconds,
                                       pcpRanks: UInt32(scheduler.communicator.size), chunks: chunker.nextChunkIndex,
                                       kvSendSeconds: sendSeconds, kvExposedSeconds: max(0, monotonicSeconds() - computeEnd),
                                       firstTokenTopLogprobs: first.topLogprobs.map(Wire.TokenLogprob.init),
                                       promptLogprobs: promptLogprobs.map(Wire.PromptTokenLogprobs.init),
                                       cachedTokens: UInt32(job.cachedTokens))
                try writer.send(PrefillResponse.done(done))
                return
            case .failed(let failure):
                switch failure {
                case .cancelledBeforePrefill, .cancelledDuringPrefill: throw context.callerGone(failure.description)
                case .computeFailed: throw TransportError.status(.internal, failure.description)
                }
            }
        }
    }

    /// Checks a request against this daemon's model and limits; the job (not yet queued) and its chunker.
    private func admit(_ r: PrefillRequest) throws -> (PrefillJob, KVChunker) {
        let model = scheduler.model, c = model.config
        guard r.modelFingerprint == model.fingerprint else {
            throw TransportError.status(.failedPrecondition,
                                        "model fingerprint mismatch: caller has \(r.modelFingerprint), this prefill serves \(model.fingerprint)")
        }
        // The first token only: one new token.
        let sampling = RequestAdmission.params(r.sampling, maxNewTokens: 1)
        let grammar = try RequestAdmission.admit(prompt: r.promptTokenIds, params: sampling, model: model, message: "PrefillRequest")
        guard r.promptTokenIds.count <= scheduler.capacityTokens else {
            throw TransportError.status(.resourceExhausted, String(describing: PrefillServiceError.cacheTooSmall(
                tokens: r.promptTokenIds.count, cacheTokens: scheduler.capacityTokens)))
        }
        guard r.dtype == .f32 || r.dtype == .bf16 else {
            throw TransportError.status(.invalidArgument, String(describing: WireError.invalidField(
                message: "PrefillRequest", field: "dtype", expected: WireDType.accepted, found: "\(r.dtype.rawValue) (\(r.dtype))")))
        }
        let chunker: KVChunker
        do {
            chunker = try KVChunker(requestId: r.requestId, modelFingerprint: model.fingerprint, rowWidth: c.latentRowWidth,
                                    dtype: r.dtype, maxChunkBytes: r.maxChunkBytes > 0 ? Int(r.maxChunkBytes) : KVChunker.defaultMaxChunkBytes,
                                    pageSize: Int(r.pageSize))
        } catch {
            throw TransportError.status(.invalidArgument, String(describing: error))
        }
        let id: String
        if r.requestId.isEmpty {
            idLock.lock(); nextID += 1; id = "prefill-\(nextID)"; idLock.unlock()
        } else {
            id = r.requestId
        }
        return (scheduler.makeJob(id: id, prompt: r.promptTokenIds.map { Int32($0) }, sampling: sampling,
                                   grammar: grammar, cacheSalt: r.cacheSalt, priority: r.priority), chunker)
    }
}
