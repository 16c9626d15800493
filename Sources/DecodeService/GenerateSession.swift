import DeepSeekModel
import Engine
import Foundation
import KVCache
import Kernels
import ServiceSupport
import Transport
import Wire

/// One Generate call's transport glue, on its handler thread: decode and admit the request →
/// reserve pages (the prompt's; the batcher adds the rest as the sequence grows) → `PrefillCall` (KV
/// into the pages, first token) → `TokenStream` (continuous batch) → responses, with errors as
/// status codes and the request's stats. A sequence the batcher preempts for pages waits for them
/// at the head of the admission queue, has a prefill daemon recompute the KV of its prompt and the
/// tokens generated so far (its prefix cache holds the prompt's, usually), and joins the batch
/// again with its own sampler: the client's stream goes on where it was.
/// Every exit path gives the pages back exactly once.
final class GenerateSession {
    let daemon: DecodeDaemon
    let context: RequestContext
    let writer: StreamWriter
    let arrival = monotonicSeconds()
    var requestID = ""
    var cacheSalt = ""
    var promptTokens = 0
    var generated = 0
    var kvBytes: UInt64 = 0
    var kvSeconds = 0.0          // prefill's time sending KV (wire rate = kvBytes / kvSeconds)
    var kvExposed = 0.0          // KV shipping not hidden behind prefill compute
    var cachedPromptTokens: UInt32 = 0   // taken from the prefill's prefix cache
    var ttft = 0.0
    var priority: Int32 = 0

    init(daemon: DecodeDaemon, context: RequestContext, writer: StreamWriter) {
        self.daemon = daemon
        self.context = context
        self.writer = writer
    }

    func run(requestBytes: [UInt8]) throws {
        let request = try requestBytes.withUnsafeBytes { try GenerateRequest(decoding: $0) }
        do { priority = try daemon.options.schedulingPolicy.admit(priority: request.priority) } catch {
            throw TransportError.status(.invalidArgument, "GenerateRequest: \(error)")
        }
        var params = RequestAdmission.params(request.sampling, maxNewTokens: Int(request.maxNewTokens))
        let grammar = try RequestAdmission.admit(prompt: request.promptTokenIds, params: params, model: daemon.model,
                                                    message: "GenerateRequest")
        if params.seed == nil && !params.isGreedy {
            // One seed for the whole sequence, first token (prefill daemon) and the rest (here).
            var system = SystemRandomNumberGenerator()
            params.seed = system.next()
        }
        requestID = request.clientRequestId.isEmpty ? daemon.newRequestID() : request.clientRequestId
        promptTokens = request.promptTokenIds.count
        cacheSalt = request.cacheSalt
        let capacity = promptTokens + params.maxNewTokens
        var sequence = try reservePages(capacity: capacity, holding: promptTokens + 1, resuming: false)
        daemon.stats.begin()
        var finish = Engine.FinishReason.error
        var releasePages = true
        defer {
            if releasePages { daemon.pages.release(sequence) }
            let finished = RequestStats(requestId: requestID, promptTokens: UInt32(promptTokens), generatedTokens: UInt32(generated),
                                        kvBytes: kvBytes, kvTransferSeconds: kvSeconds, finishReason: Wire.FinishReason(finish),
                                        stopTokenId: Wire.FinishReason.stopTokenId(finish))
            daemon.stats.end(finished)
            daemon.metrics.finished(finished, ttftSeconds: generated > 0 ? ttft : nil, endToEndSeconds: monotonicSeconds() - arrival)
        }
        do {
            var sampling = request.sampling
            sampling.seed = params.seed ?? 0
            sampling.seedGiven = params.seed != nil
            let prefill = try prefillCall(prompt: request.promptTokenIds, sampling: sampling, sequence: sequence).run()
            (kvBytes, kvSeconds, kvExposed) = (prefill.kvBytes, prefill.kvSendSeconds, prefill.kvExposedSeconds)
            cachedPromptTokens = prefill.cachedTokens
            ttft = monotonicSeconds() - arrival
            generated = 1
            let stop = StopCondition(params: params, eosTokenIDs: daemon.model.config.eosTokenIDs)
            let firstFinish = stop.finish(after: prefill.first.token, generated: 1)
            try send([prefill.first], finish: firstFinish, promptLogprobs: prefill.promptLogprobs)
            if let firstFinish { finish = firstFinish; return }
            // The prefill daemon drew the first token from the same seed: the sampler continues its stream.
            let sampler = Sampler(params: params, vocabSize: daemon.model.config.vocabSize, prompt: request.promptTokenIds.map { Int($0) },
                                  previousTokens: [prefill.first.token], eosTokenIDs: daemon.model.config.eosTokenIDs, grammar: grammar)
            var output = [UInt32(prefill.first.token)]   // every token generated, in order
            output.reserveCapacity(params.maxNewTokens)
            while true {
                // The batcher owns the pages' reads from here until its last sink call, after which run() returns.
                releasePages = false
                let before = generated
                var stream = TokenStream(batcher: daemon.batcher, sequence: sequence, lastToken: Int(output[output.count - 1]),
                                         generatedBefore: before, sampler: sampler, params: params,
                                         isCancelled: { [context] in context.isCancelled }) { [unowned self] tokens, finish in
                    self.generated += tokens.count   // before the send: the last response's usage counts them
                    for t in tokens { output.append(UInt32(t.token)) }
                    try self.send(tokens, finish: finish)
                }
                stream.priority = priority
                if daemon.batcher.speculation != nil {
                    stream.context = (request.promptTokenIds + output.dropLast()).map { Int32(bitPattern: $0) }
                }
                let end: GenerationEnd
                do {
                    let (streamEnd, decoded) = try stream.run()
                    end = streamEnd
                    generated = before + decoded      // tokens the caller left before receiving count too
                    releasePages = true
                } catch { releasePages = true; throw error }
                switch end {
                case .failed(let error):
                    throw TransportError.status(.internal, "request \(requestID): decode step failed: \(error)")
                case .finished(.cancelled):
                    throw context.callerGone("request \(requestID)")
                case .finished(let reason):
                    finish = reason
                    return
                case .preempted:
                    daemon.metrics.preempted()
                    daemon.logger.info("request \(requestID) preempted for KV pages after \(generated) tokens; recomputing")
                    daemon.pages.release(sequence)   // released by the batcher already: this wakes the queue
                    // The KV of every position before the latest token: the prompt and the tokens before it.
                    let known = request.promptTokenIds + output[0..<(output.count - 1)]
                    sequence = try reservePages(capacity: capacity, holding: known.count + 1, resuming: true)
                    // Greedy without extras: the prefill's own token is not used, the sampler has the real one.
                    let recomputed = try prefillCall(prompt: Array(known), sampling: Wire.SamplingParams(), sequence: sequence).run()
                    kvBytes += recomputed.kvBytes              // every transfer counts in the request's bytes and seconds
                    kvSeconds += recomputed.kvSendSeconds
                }
            }
        } catch let e as TransportError {
            if context.isCancelled {
                // The client left or its deadline passed (e.g. while we waited on the prefill): its
                // choice, not a fault of either daemon.
                finish = context.deadline.hasPassed ? .deadline : .cancelled
                daemon.logger.info("request \(requestID) ended by its client (cancelled or past its deadline): \(e)")
            } else if case .status(.cancelled, _) = e {
                finish = .cancelled   // a send failed: the client went away
                daemon.logger.info("request \(requestID) cancelled by the client")
            } else {
                daemon.logger.error("request \(requestID) failed: \(e)")
            }
            throw e
        }
    }

    /// A cache sequence from the admission queue; its refusals as RESOURCE_EXHAUSTED, a wait the
    /// caller ended as its own.
    private func reservePages(capacity: Int, holding: Int, resuming: Bool) throws -> Int {
        do {
            return try daemon.pages.reserve(capacity: capacity, holding: holding, resuming: resuming, priority: priority,
                                            remaining: { [context] in context.deadline.remainingSeconds },
                                            isCancelled: { [context] in context.isCancelled })
        } catch let e as PageAdmissionError {
            if case .cancelled = e { throw context.callerGone("request \(requestID) waiting for KV pages") }
            daemon.logger.warning("rejected \(requestID): \(e)")
            throw TransportError.status(.resourceExhausted, e.description)
        }
    }

    private func prefillCall(prompt: [UInt32], sampling: Wire.SamplingParams, sequence: Int) -> PrefillCall {
        PrefillCall(daemon: daemon, requestID: requestID, prompt: prompt, sampling: sampling, cacheSalt: cacheSalt, priority: priority,
                    sequence: sequence, callerDeadline: context.deadline,
                    isCancelled: { [context] in context.isCancelled },
                    callerGone: { [context] in context.callerGone($0) },
                    whenCancelled: { [context] in context.whenCancelled($0) })
    }

    private func send(_ tokens: [SampledToken], finish: Engine.FinishReason?, promptLogprobs: [Wire.PromptTokenLogprobs] = []) throws {
        var response = GenerateResponse(requestId: requestID, tokens: tokens.map(GeneratedToken.init))
        response.promptLogprobs = promptLogprobs
        if let finish {
            response.finishReason = Wire.FinishReason(finish)
            response.stopTokenId = Wire.FinishReason.stopTokenId(finish)
            response.usage = Usage(promptTokens: UInt32(promptTokens), generatedTokens: UInt32(generated), ttftSeconds: ttft,
                                   kvBytes: kvBytes, kvTransferSeconds: kvSeconds, totalSeconds: monotonicSeconds() - arrival,
                                   kvExposedSeconds: kvExposed, cachedPromptTokens: cachedPromptTokens)
        }
        try writer.send(response)
    }
}
