import Basics
import Foundation
import MetricsExposition
import ModelText
import Wire

/// What one choice sends to the client: released text, and at its end the finish reason.
struct ChoiceEvent: Sendable {
    let index: Int
    let text: String
    /// "stop" / "length" on the last event of the choice.
    let finishReason: String?
    /// With "stop": the stop token id or stop string that ended it (vLLM's stop_reason); nil for EOS.
    let stopReason: StopReason?
    let promptTokens: Int
    let completionTokens: Int
}

/// Runs a request's prompts (one choice each) on decode daemons concurrently, turning token ids
/// into text with stop strings (ModelText's TextStream). A stop string, a consumer that leaves or
/// a cancelled task ends the decode call at once.
struct CompletionRun {
    let request: GenerationRequest
    let served: ServedModel
    let pool: DecodePool
    let metrics: GatewayMetrics
    let id: String

    /// Every choice's events, merged; throws an APIError when a choice fails. `cancel` ends every
    /// choice's decode call.
    func events() -> (events: AsyncThrowingStream<ChoiceEvent, Error>, cancel: @Sendable () -> Void) {
        let (stream, continuation) = AsyncThrowingStream<ChoiceEvent, Error>.makeStream()
        let run = self
        let task = Task {
            do {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for index in run.request.prompts.indices {
                        group.addTask { try await run.choice(index) { continuation.yield($0) } }
                    }
                    try await group.waitForAll()
                }
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        continuation.onTermination = { _ in task.cancel() }
        return (stream, { task.cancel() })
    }

    private func choice(_ index: Int, emit: @Sendable (ChoiceEvent) -> Void) async throws {
        let prompt = request.prompts[index]
        let generate = GenerateRequest(promptTokenIds: prompt.map { UInt32($0) }, maxNewTokens: UInt32(request.maxTokens[index]),
                                       sampling: request.sampling,
                                       clientRequestId: request.prompts.count == 1 ? id : "\(id)-\(index)")
        var text = TextStream(served.text, stopStrings: request.stop)
        var generated = 0
        var finish: String?
        var stopReason: StopReason?
        let start = monotonicSeconds()
        var lastTokenAt = start
        func send(_ piece: String, _ reason: String? = nil, _ stopReason: StopReason? = nil) {
            if !piece.isEmpty || reason != nil {
                emit(ChoiceEvent(index: index, text: piece, finishReason: reason, stopReason: stopReason,
                                 promptTokens: prompt.count, completionTokens: generated))
            }
        }
        let call = DecodeCall.start(generate, pool: pool, onRetry: { [metrics] in metrics.retries.increment() })
        try await withTaskCancellationHandler {
            defer { call.cancel() }
            responses: for try await response in call.responses {
                for token in response.tokens {
                    let now = monotonicSeconds()
                    if generated == 0 {
                        metrics.timeToFirstToken.recordSeconds(now - start)
                    } else {
                        metrics.interTokenLatency.recordSeconds(now - lastTokenAt)
                    }
                    lastTokenAt = now
                    generated += 1
                    send(text.append(Int(token.tokenId)))
                    if text.stoppedBy != nil { finish = "stop"; break responses }
                }
                switch response.finishReason {
                case .unspecified: continue
                case .stop: finish = "stop"; stopReason = response.stopTokenId.map { .token(Int($0)) }
                case .length: finish = "length"
                case .cancelled, .deadline, .error:
                    throw APIError.server("decode ended the request: \(response.finishReason)")
                }
            }
        } onCancel: {
            call.cancel()
        }
        try Task.checkCancellation()
        guard var reason = finish else { throw APIError.server("decode ended the stream without a finish reason") }
        let tail = text.finish()
        if let matched = text.stoppedBy { reason = "stop"; stopReason = .text(matched) }
        metrics.promptTokens.increment(by: prompt.count)
        metrics.generationTokens.increment(by: generated)
        metrics.endToEnd.recordSeconds(monotonicSeconds() - start)
        send(tail, reason, stopReason)
    }
}
