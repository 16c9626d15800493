import DeepSeekModel
import Engine
import Foundation
import KVCache
import Kernels
import ServiceSupport
import Transport
import Wire

/// One Generate call's transport glue, on its handler thread: decode and admit the request →
/// reserve pages → `PrefillCall` (KV into the pages, first token) → `TokenStream` (continuous
/// batch) → responses, with errors as status codes and the request's stats.
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
    var cachedPromptTokens: UInt32 = 0   // taken from the prefill's prefix cache
    var ttft = 0.0

    init(daemon: DecodeDaemon, context: RequestContext, writer: StreamWriter) {
        self.daemon = daemon
        self.context = context
        self.writer = writer
    }

    func run(requestBytes: [UInt8]) throws {
        let request = try requestBytes.withUnsafeBytes { try GenerateRequest(decoding: $0) }
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
        let pages = daemon.pages
        let sequence: Int
        do {
            sequence = try pages.reserve(capacity: promptTokens + params.maxNewTokens,
                                         remaining: { [context] in context.deadline.remainingSeconds },
                                         isCancelled: { [context] in context.isCancelled })
        } catch let e as PageAdmissionError {
            if case .cancelled = e { throw context.callerGone("request \(requestID) waiting for KV pages") }
            daemon.logger.warning("rejected \(requestID): \(e)")
            throw TransportError.status(.resourceExhausted, e.description)
        }
        daemon.stats.begin()
        var finish = Engine.FinishReason.error
        var releasePages = true
        defer {
            if releasePages { pages.release(sequence) }
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
            let prefill = try PrefillCall(daemon: daemon, requestID: requestID, prompt: request.promptTokenIds, sampling: sampling,
                                          cacheSalt: request.cacheSalt,
                                          sequence: sequence, callerDeadline: context.deadline,
                                          isCancelled: { [context] in context.isCancelled },
                                          callerGone: { [context] in context.callerGone($0) },
                                          whenCancelled: { [context] in context.whenCancelled($0) }).run()
            (kvBytes, kvSeconds, kvExposed) = (prefill.kvBytes, prefill.kvSendSeconds, prefill.kvExposedSeconds)
            cachedPromptTokens = prefill.cachedTokens
            ttft = monotonicSeconds() - arrival
            generated = 1
            let stop = StopCondition(params: params, eosTokenIDs: daemon.model.config.eosTokenIDs)
            let firstFinish = stop.finish(after: prefill.first.token, generated: 1)
            try send([prefill.first], finish: firstFinish, promptLogprobs: prefill.promptLogprobs)
            if let firstFinish { finish = firstFinish; return }
            // The batcher owns the pages' reads from here until its last sink call, after which run() returns.
            releasePages = false
            defer { releasePages = true }
            let stream = TokenStream(batcher: daemon.batcher, sequence: sequence, first: prefill.first,
                                     prompt: request.promptTokenIds.map { Int($0) }, params: params, grammar: grammar,
                                     isCancelled: { [context] in context.isCancelled }) { [unowned self] tokens, finish in
                self.generated += tokens.count   // before the send: the last response's usage counts them
                try self.send(tokens, finish: finish)
            }
            let (end, decoded) = try stream.run()
            generated = 1 + decoded             // tokens the caller left before receiving count too
            switch end {
            case .failed(let error):
                throw TransportError.status(.internal, "request \(requestID): decode step failed: \(error)")
            case .finished(.cancelled):
                throw context.callerGone("request \(requestID)")
            case .finished(let reason):
                finish = reason
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
