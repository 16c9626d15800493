import DeepSeekModel
import Engine
import Foundation
import KVCache
import Kernels
import ServiceSupport
import Transport
import Wire

/// One Generate call, on its handler thread: validate → reserve pages → Prefill (KV streamed into
/// the pages, verified chunk by chunk) → first token → continuous batch → stream tokens.
/// Every exit path gives the pages back exactly once.
final class GenerateSession {
    let daemon: DecodeDaemon
    let context: RequestContext
    let writer: StreamWriter
    let arrival = monotonicSeconds()
    var requestID = ""
    var promptTokens = 0
    var generated = 0
    var kvBytes: UInt64 = 0
    var kvSeconds = 0.0          // prefill's time sending KV (wire rate = kvBytes / kvSeconds)
    var kvExposed = 0.0          // KV shipping not hidden behind prefill compute
    var ttft = 0.0

    init(daemon: DecodeDaemon, context: RequestContext, writer: StreamWriter) {
        self.daemon = daemon
        self.context = context
        self.writer = writer
    }

    func run(requestBytes: [UInt8]) throws {
        let request = try requestBytes.withUnsafeBytes { try GenerateRequest(decoding: $0) }
        var params = try validate(request)
        if params.seed == nil && !params.isGreedy {
            // One seed for the whole sequence, first token (prefill daemon) and the rest (here).
            var system = SystemRandomNumberGenerator()
            params.seed = max(1, system.next())   // 0 on the wire means "none"
        }
        requestID = request.clientRequestId.isEmpty ? daemon.newRequestID() : request.clientRequestId
        promptTokens = request.promptTokenIds.count
        let cache = daemon.cache
        let sequence: Int
        do {
            sequence = try cache.allocate(capacity: promptTokens + params.maxNewTokens)
        } catch let e as KVCacheError {
            daemon.logger.warning("rejected \(requestID): \(e)")
            throw TransportError.status(.resourceExhausted, e.description)
        }
        daemon.stats.begin()
        var finish = Engine.FinishReason.error
        var releasePages = true
        defer {
            if releasePages { cache.release(sequence) }
            daemon.stats.end(RequestStats(requestId: requestID, promptTokens: UInt32(promptTokens), generatedTokens: UInt32(generated),
                                          kvBytes: kvBytes, kvTransferSeconds: kvSeconds, finishReason: Wire.FinishReason(finish)))
        }
        do {
            let first = try prefill(request, params: params, sequence: sequence)
            ttft = monotonicSeconds() - arrival
            generated = 1
            let stop = StopCondition(params: params, eosTokenIDs: daemon.model.config.eosTokenIDs)
            let firstFinish = stop.finish(after: first.token, generated: 1)
            try send([GeneratedToken(tokenId: UInt32(first.token), logprob: first.logprob)], finish: firstFinish)
            if let firstFinish { finish = firstFinish; return }
            // The batcher owns the pages' reads from here until its last sink call.
            releasePages = false
            defer { releasePages = true }   // decode returns or throws only after the batcher's last call
            finish = try decode(sequence: sequence, first: first, params: params)
        } catch let e as TransportError {
            if case .status(.cancelled, _) = e {
                finish = .cancelled
                daemon.logger.info("request \(requestID) cancelled by the client")
            } else if context.isCancelled {
                // The client left or its deadline passed while we waited (e.g. on the prefill): its
                // choice, not a fault of either daemon.
                finish = context.deadline.hasPassed ? .deadline : .cancelled
                daemon.logger.info("request \(requestID) ended by its client (cancelled or past its deadline): \(e)")
            } else {
                daemon.logger.error("request \(requestID) failed: \(e)")
            }
            throw e
        }
    }

    // MARK: Steps

    private func validate(_ r: GenerateRequest) throws -> Engine.SamplingParams {
        let params = RequestAdmission.params(r.sampling, maxNewTokens: Int(r.maxNewTokens))
        try RequestAdmission.admit(prompt: r.promptTokenIds, params: params, config: daemon.model.config, message: "GenerateRequest")
        return params
    }

    /// Prefill, tried again while the prefill daemon cannot be reached (UNAVAILABLE before its first
    /// message: nothing was computed or written yet), every 0.15 s for about a second — the
    /// channel's reconnect backoff is capped at 1 s.
    private func prefill(_ r: GenerateRequest, params: Engine.SamplingParams, sequence: Int) throws -> SampledToken {
        var attempt = 1
        while true {
            do {
                return try prefillOnce(r, params: params, sequence: sequence)
            } catch PrefillAttemptError.unreachable(let message) {
                if attempt == 8 || context.isCancelled { throw TransportError.status(.unavailable, message) }
                if attempt == 1 { daemon.logger.info("request \(requestID): \(message); retrying") }
                attempt += 1
                usleep(150_000)
            }
        }
    }

    private enum PrefillAttemptError: Error { case unreachable(String) }

    /// The request's sampling with the seed this sequence uses (chosen here when the client gave none).
    private func prefillSampling(_ requested: Wire.SamplingParams, _ params: Engine.SamplingParams) -> Wire.SamplingParams {
        var sampling = requested
        sampling.seed = params.seed ?? 0
        return sampling
    }

    /// Calls Prefill and writes the streamed KV into `sequence`'s pages; returns the first token.
    private func prefillOnce(_ r: GenerateRequest, params: Engine.SamplingParams, sequence: Int) throws -> SampledToken {
        let model = daemon.model, cache = daemon.cache, c = model.config, options = daemon.options
        let channel = daemon.nextChannel()
        let request = PrefillRequest(requestId: requestID, promptTokenIds: r.promptTokenIds, modelFingerprint: model.fingerprint,
                                     dtype: options.wireDType, maxChunkBytes: UInt32(options.maxChunkBytes),
                                     pageSize: UInt32(cache.pageSize), sampling: prefillSampling(r.sampling, params))
        let deadline = Deadline.after(seconds: min(options.prefillTimeoutSeconds, context.deadline.remainingSeconds ?? .infinity))
        let stream: ResponseStream
        do {
            stream = try channel.serverStreaming(method: MethodPath.prefill, request: request, deadline: deadline)
        } catch {
            throw PrefillAttemptError.unreachable("prefill \(channel.target): \(error)")
        }
        let pageSize = cache.pageSize, width = c.latentRowWidth
        let assembler = KVAssembler(expecting: KVExpectation(
            requestId: requestID, modelFingerprint: model.fingerprint, dtype: options.wireDType, pageSize: UInt32(pageSize),
            rowWidth: width, layers: c.numHiddenLayers, tokens: promptTokens)) { layer, start, maxTokens in
            // Rows up to the end of the page holding `start`: pages need not be adjacent.
            let rows = min(maxTokens, pageSize - start % pageSize)
            return UnsafeMutableBufferPointer(start: try cache.row(sequence: sequence, layer: layer, position: start), count: rows * width)
        }
        while true {
            if context.isCancelled {
                stream.cancel()
                throw TransportError.status(.cancelled, "request \(requestID) cancelled by the client during prefill")
            }
            let message: ReceivedMessage?
            do { message = try stream.nextMessage() } catch let TransportError.status(code, text) {
                if code == .unavailable && assembler.chunksReceived == 0 {
                    throw PrefillAttemptError.unreachable("prefill \(channel.target): \(code): \(text)")
                }
                // The prefill's verdict on the request passes through; any other failure means it is unavailable.
                let passThrough: [StatusCode] = [.deadlineExceeded, .failedPrecondition, .invalidArgument, .resourceExhausted]
                let mapped: StatusCode = passThrough.contains(code) ? code : .unavailable
                throw TransportError.status(mapped, "prefill \(channel.target): \(code): \(text)")
            }
            guard let message else {
                throw TransportError.status(.unavailable, "prefill \(channel.target) ended the stream without its final message")
            }
            do {
                switch try PrefillResponseView.parse(segments: message.segments) {
                case .chunk(let chunk):
                    try assembler.accept(chunk)
                case .done(let done):
                    try assembler.finish(done)
                    kvBytes = assembler.payloadBytesReceived
                    kvSeconds = done.kvSendSeconds
                    kvExposed = done.kvExposedSeconds
                    try cache.setLength(promptTokens, of: sequence)
                    _ = try? stream.nextMessage()   // the OK end of the call
                    return SampledToken(token: Int(done.firstToken), logprob: done.firstTokenLogprob)
                }
            } catch let e as WireError {
                stream.cancel()
                throw TransportError.status(.dataLoss, "KV from prefill \(channel.target) rejected: \(e)")
            }
        }
    }

    /// Joins the continuous batch and streams its tokens until it finishes or the client leaves.
    private func decode(sequence: Int, first: SampledToken, params: Engine.SamplingParams) throws -> Engine.FinishReason {
        let queue = BlockingQueue<(SampledToken?, GenerationEnd?)>()
        // The prefill daemon drew the first token from the same seed: continue its stream.
        let sampler = Sampler(params: params, vocabSize: daemon.model.config.vocabSize, tokensAlreadySampled: 1)
        let ticket = daemon.batcher.join(sequence: sequence, lastToken: first.token, generated: 1, params: params,
                                         sampler: sampler) { token, finish in queue.push((token, finish)) }
        var clientGone = false
        var pending: [GeneratedToken] = []
        while true {
            let next = queue.pop(timeout: 0.05)
            // Checked on every token too: a cancelled call's sends can still succeed for a while, and
            // each step spent on a departed client is a step the batch could use.
            if !clientGone && context.isCancelled { clientGone = true; daemon.batcher.cancel(ticket) }
            guard let (token, end) = next else { continue }
            if let token { pending.append(GeneratedToken(tokenId: UInt32(token.token), logprob: token.logprob)); generated += 1 }
            if let end {
                if case .failed(let error) = end { throw TransportError.status(.internal, "request \(requestID): decode step failed: \(error)") }
                if clientGone || end.reason == .cancelled {
                    throw TransportError.status(.cancelled, "request \(requestID) cancelled by the client")
                }
                try send(pending, finish: end.reason)
                return end.reason
            }
            // Send what has arrived; tokens that come while this send is in flight go together next time.
            if !clientGone && queue.count == 0 {
                do { try send(pending, finish: nil); pending.removeAll(keepingCapacity: true) } catch {
                    clientGone = true
                    daemon.batcher.cancel(ticket)
                }
            }
        }
    }

    private func send(_ tokens: [GeneratedToken], finish: Engine.FinishReason?) throws {
        var response = GenerateResponse(requestId: requestID, tokens: tokens)
        if let finish {
            response.finishReason = Wire.FinishReason(finish)
            response.usage = Usage(promptTokens: UInt32(promptTokens), generatedTokens: UInt32(generated), ttftSeconds: ttft,
                                   kvBytes: kvBytes, kvTransferSeconds: kvSeconds, totalSeconds: monotonicSeconds() - arrival,
                                   kvExposedSeconds: kvExposed)
        }
        try writer.send(response)
    }
}
