import DeepSeekModel
import Engine
import Foundation
import KVCache
import Transport
import Wire

/// What the prefill daemon delivered for one request besides its KV rows.
struct PrefillOutcome {
    var first: SampledToken
    var kvBytes: UInt64
    var kvSendSeconds: Double          // prefill's time sending KV (wire rate = kvBytes / this)
    var kvExposedSeconds: Double       // KV shipping not hidden behind prefill compute
    var promptLogprobs: [Wire.PromptTokenLogprobs]   // with sampling.prompt_logprobs, passed on to the client
    var cachedTokens: UInt32           // prompt tokens the prefill took from its prefix cache
}

/// One request's Prefill call and KV assembly: calls a prefill daemon and writes the streamed
/// latent KV straight into `sequence`'s pages, verified chunk by chunk (`KVAssembler`); returns the
/// first token. Tried again while the prefill daemon cannot be reached.
struct PrefillCall {
    let daemon: DecodeDaemon
    let requestID: String
    let prompt: [UInt32]
    /// The request's sampling with the seed the whole sequence uses.
    let sampling: Wire.SamplingParams
    /// The request's prefix-cache salt (vLLM's cache_salt; "" without).
    let cacheSalt: String
    /// The request's priority (0 under first-come-first-served): the prefill batches queued prompts by it.
    var priority: Int32 = 0
    let sequence: Int
    /// The caller's deadline (the call's own is the shorter of this and --prefill-timeout).
    let callerDeadline: Deadline
    let isCancelled: () -> Bool
    /// The error for a caller that is gone (`RequestContext.callerGone`).
    let callerGone: (String) -> TransportError
    /// Registers an action to run when the caller cancels (the Generate call's `whenCancelled`).
    var whenCancelled: (@escaping () -> Void) -> Void = { _ in }

    /// UNAVAILABLE before the first message (nothing was computed or written yet) is tried again,
    /// every 0.15 s for about a second — the channel's reconnect backoff is capped at 1 s.
    func run() throws -> PrefillOutcome {
        var attempt = 1
        while true {
            do {
                return try once()
            } catch AttemptError.unreachable(let message) {
                if attempt == 8 || isCancelled() { throw TransportError.status(.unavailable, message) }
                if attempt == 1 { daemon.logger.info("request \(requestID): \(message); retrying") }
                attempt += 1
                usleep(150_000)
            }
        }
    }

    private enum AttemptError: Error { case unreachable(String) }

    private func once() throws -> PrefillOutcome {
        let model = daemon.model, cache = daemon.cache, c = model.config, options = daemon.options
        let channel = daemon.prefills.acquire(prompt: prompt, salt: cacheSalt)
        defer { daemon.prefills.release(channel, tokens: prompt.count) }
        let request = PrefillRequest(requestId: requestID, promptTokenIds: prompt, modelFingerprint: model.fingerprint,
                                     dtype: options.wireDType, maxChunkBytes: UInt32(options.maxChunkBytes),
                                     pageSize: UInt32(cache.pageSize), sampling: sampling, cacheSalt: cacheSalt,
                                     priority: priority)
        let deadline = Deadline.after(seconds: min(options.prefillTimeoutSeconds, callerDeadline.remainingSeconds ?? .infinity))
        let stream: ResponseStream
        do {
            stream = try channel.serverStreaming(method: MethodPath.prefill, request: request, deadline: deadline)
        } catch {
            daemon.prefills.markUnreachable(channel, reason: "\(error)")
            throw AttemptError.unreachable("prefill \(channel.target): \(error)")
        }
        // The client leaving ends the Prefill call at once (the prefill daemon drops the request
        // from its queue or batch), not when the prefill's first KV chunk arrives.
        whenCancelled { stream.cancel() }
        let pageSize = cache.pageSize, width = c.latentRowWidth, sequence = sequence
        let rowBytes = width * cache.dtype.byteWidth
        // The cache's dtype, whatever the wire's: a bf16 cache rounds f32 rows as the bf16 wire does.
        let assembler = KVAssembler(expecting: KVExpectation(
            requestId: requestID, modelFingerprint: model.fingerprint, dtype: options.wireDType, pageSize: UInt32(pageSize),
            rowWidth: width, layers: c.numHiddenLayers, tokens: prompt.count),
                                    storedAs: cache.dtype == .bf16 ? .bf16 : .f32) { layer, start, maxTokens in
            // Rows up to the end of the page holding `start`: pages need not be adjacent.
            let rows = min(maxTokens, pageSize - start % pageSize)
            return UnsafeMutableRawBufferPointer(start: try cache.rowBytes(sequence: sequence, layer: layer, position: start),
                                                 count: rows * rowBytes)
        }
        while true {
            if isCancelled() {
                stream.cancel()
                throw callerGone("request \(requestID) during prefill")
            }
            let message: ReceivedMessage?
            do { message = try stream.nextMessage() } catch let TransportError.status(code, text) {
                if isCancelled() {   // the stream was cancelled for the client (whenCancelled above)
                    throw callerGone("request \(requestID) during prefill")
                }
                if code == .unavailable && assembler.chunksReceived == 0 {
                    daemon.prefills.markUnreachable(channel, reason: "\(code): \(text)")
                    throw AttemptError.unreachable("prefill \(channel.target): \(code): \(text)")
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
                    try cache.setLength(prompt.count, of: sequence)
                    _ = try? stream.nextMessage()   // the OK end of the call
                    return PrefillOutcome(first: SampledToken(token: Int(done.firstToken), logprob: done.firstTokenLogprob,
                                                                            topLogprobs: done.firstTokenTopLogprobs.map(Engine.TokenLogprob.init)),
                                          kvBytes: assembler.payloadBytesReceived, kvSendSeconds: done.kvSendSeconds,
                                          kvExposedSeconds: done.kvExposedSeconds, promptLogprobs: done.promptLogprobs,
                                          cachedTokens: done.cachedTokens)
                }
            } catch let e as WireError {
                stream.cancel()
                throw TransportError.status(.dataLoss, "KV from prefill \(channel.target) rejected: \(e)")
            }
        }
    }
}
