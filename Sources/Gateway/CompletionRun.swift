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
    /// Prompt tokens the prefill took from its prefix cache (set on the last event).
    let cachedPromptTokens: Int
    let completionTokens: Int
    /// With logprobs asked for: the tokens generated since the choice's previous event, with their
    /// logprobs (their text is in this event's or an earlier one's; held-back text comes later).
    let tokens: [GeneratedToken]
    /// On the choice's first event, when the request asked for the prompt's logprobs: prompt tokens
    /// 1..<n (the daemons' prompt_logprobs).
    let promptLogprobs: [PromptTokenLogprobs]?
    /// Tool-call pieces since the choice's previous event (chat with tools and a parser, or a forced
    /// tool choice): a call's first piece names it, the later ones add to its arguments.
    let toolCalls: [ToolCallDelta]
    /// Reasoning text released since the previous event (chat with `--reasoning-parser`).
    let reasoning: String
}

/// Runs a request's choices (n per prompt) on decode daemons concurrently, turning token ids
/// into text with stop strings (ModelText's TextStream) on each call's own thread. A stop string,
/// a consumer that leaves or `cancel` ends the decode calls at once.
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
        let calls = RunCalls(choices: request.choiceCount, continuation: continuation)
        for index in 0..<request.choiceCount {
            let p = index / request.n, sample = index % request.n
            let prompt = request.prompts[p]
            var sampling = request.sampling
            if sampling.seedGiven { sampling.seed &+= UInt64(sample) }   // vLLM: a seeded request's sample j draws from seed + j
            // Echo alone (max_tokens 0) still asks decode for one token, as vLLM does: its call carries
            // the prompt's logprobs; the choice drops the token.
            let generate = GenerateRequest(promptTokenIds: prompt.map { UInt32($0) }, maxNewTokens: UInt32(max(1, request.maxTokens[p])),
                                           sampling: sampling,
                                           clientRequestId: request.choiceCount == 1 ? id : "\(id)-\(index)",
                                           cacheSalt: request.cacheSalt, priority: request.priority)
            let echo = request.echoTexts[p]
            let splitter = request.parsesToolCalls ? served.toolCalls.map { ToolCallSplitter(format: $0, text: served.text) } : nil
            let reasoning = request.kind == .chat ? served.reasoning.map { ReasoningSplitter(format: $0, prompt: prompt) } : nil
            let choice = Choice(index: index, prompt: prompt.count, echo: echo, echoesOnly: request.echoesOnly,
                                wantsPromptLogprobs: request.sampling.promptLogprobs,
                                toolCalls: splitter, parallelToolCalls: request.parallelToolCalls, forced: request.forcedTools,
                                reasoning: reasoning,
                                text: TextStream(served.text, stopStrings: request.stop, skipSpecialTokens: request.skipSpecialTokens,
                                                 minTokens: request.minTokens),
                                includeStopString: request.includeStopString,
                                keepsTokens: request.topLogprobs != nil, metrics: metrics, calls: calls)
            calls.add(DecodeCall.start(generate, pool: pool, consumer: choice, onRetry: { [metrics] in metrics.retries.increment() }))
        }
        continuation.onTermination = { _ in calls.cancelAll() }
        return (stream, { calls.cancelAll() })
    }
}

/// A run's decode calls and its merged event stream: finished when every choice has ended, failed
/// (and the other calls cancelled) when one fails.
private final class RunCalls: @unchecked Sendable {
    private let lock = NSLock()
    private var calls: [DecodeCall] = []
    private var remaining: Int
    private var cancelled = false
    let continuation: AsyncThrowingStream<ChoiceEvent, Error>.Continuation

    init(choices: Int, continuation: AsyncThrowingStream<ChoiceEvent, Error>.Continuation) {
        remaining = choices
        self.continuation = continuation
    }

    func add(_ call: DecodeCall) {
        let cancelNow = lock.withLock { () -> Bool in calls.append(call); return cancelled }
        if cancelNow { call.cancel() }
    }

    func cancelAll() {
        let all = lock.withLock { () -> [DecodeCall] in cancelled = true; return calls }
        for call in all { call.cancel() }
    }

    func choiceDone() {
        if lock.withLock({ () -> Int in remaining -= 1; return remaining }) == 0 { continuation.finish() }
    }

    func fail(_ error: Error) {
        continuation.finish(throwing: error)
        cancelAll()
    }
}

/// One choice: its text stream and counts, touched only from its decode call's thread.
private final class Choice: DecodeCallConsumer, @unchecked Sendable {
    let index: Int
    let prompt: Int
    var text: TextStream
    let keepsTokens: Bool
    private let includeStopString: Bool
    private var tokens: [GeneratedToken] = []
    /// The prompt's text, sent ahead of the first piece (completions' echo), else empty.
    private var echo: String
    /// Echo alone (completions' max_tokens 0): the choice ends at decode's first token, without it.
    private let echoesOnly: Bool
    private let wantsPromptLogprobs: Bool
    /// The prompt's logprobs from the first response, until the first event carries them.
    private var promptLogprobs: [PromptTokenLogprobs]?
    /// Reads tool calls off the tokens (chat with tools); the pieces not yet sent, how many calls
    /// started, and whether the current call's pieces are dropped (parallel_tool_calls false, a second call).
    private var splitter: ToolCallSplitter?
    private let parallelToolCalls: Bool
    private var pendingCalls: [ToolCallDelta] = []
    private var callsStarted = 0
    private var droppingCall = false
    /// A forced tool choice: a named function's arguments stream as the answer comes; "required"'s
    /// calls are read off the whole answer, gathered here, at the end.
    private let forced: ForcedToolCalls?
    private var forcedReply = ""
    /// Tells reasoning tokens from the answer's (chat with `--reasoning-parser`); the reasoning's own
    /// text stream (no stop strings: they end the answer) and what it released since the last event.
    private var reasoningSplitter: ReasoningSplitter?
    private var reasoningText: TextStream
    private var pendingReasoning = ""
    let metrics: GatewayMetrics
    let calls: RunCalls
    private var generated = 0
    private var cachedPromptTokens = 0
    private var finish: String?
    private var stopReason: StopReason?
    private var failure: APIError?
    private let start = monotonicSeconds()
    private var lastTokenAt = 0.0

    init(index: Int, prompt: Int, echo: String, echoesOnly: Bool, wantsPromptLogprobs: Bool, toolCalls: ToolCallSplitter?,
         parallelToolCalls: Bool, forced: ForcedToolCalls?, reasoning: ReasoningSplitter?, text: TextStream, includeStopString: Bool,
         keepsTokens: Bool, metrics: GatewayMetrics, calls: RunCalls) {
        self.index = index
        self.prompt = prompt
        self.echo = echo
        self.echoesOnly = echoesOnly
        self.splitter = toolCalls
        self.parallelToolCalls = parallelToolCalls
        self.forced = forced
        self.reasoningSplitter = reasoning
        self.reasoningText = text.withoutStopStrings()
        self.wantsPromptLogprobs = wantsPromptLogprobs
        self.text = text
        self.keepsTokens = keepsTokens
        self.includeStopString = includeStopString
        self.metrics = metrics
        self.calls = calls
    }

    private func send(_ piece: String, _ reason: String? = nil, _ stopReason: StopReason? = nil) {
        if !piece.isEmpty || reason != nil || !pendingCalls.isEmpty || !pendingReasoning.isEmpty {
            calls.continuation.yield(ChoiceEvent(index: index, text: echo + piece, finishReason: reason, stopReason: stopReason,
                                                 promptTokens: prompt, cachedPromptTokens: cachedPromptTokens,
                                                 completionTokens: generated, tokens: tokens,
                                                 promptLogprobs: promptLogprobs, toolCalls: pendingCalls, reasoning: pendingReasoning))
            pendingReasoning = ""
            tokens.removeAll()
            echo = ""
            promptLogprobs = nil
            pendingCalls.removeAll()
        }
    }

    /// A token's text (reasoning or answer), or the tool call it completes (sent as soon as it is whole).
    private func take(_ token: Int) {
        if reasoningSplitter != nil {
            switch reasoningSplitter!.feed(token) {
            case .reasoning(let id)?:
                pendingReasoning += reasoningText.append(id)
                return send("")
            case .content?: break
            case nil: return   // a think marker
            }
        }
        if let forced {
            let piece = text.append(token)
            if case .named(let name) = forced {
                namedCallArguments(piece, name: name)
                return send("")
            }
            forcedReply += piece
            return
        }
        for piece in splitter?.feed(token) ?? [.text(token)] {
            switch piece {
            case .text(let id): send(text.append(id))
            case .started(let call): startCall(call); send("")
            case .arguments(let more): addArguments(more); send("")
            }
        }
    }

    /// A call's first piece (dropped, with the rest of the call, when it is a second call and
    /// parallel_tool_calls is false).
    private func startCall(_ call: ToolCall) {
        droppingCall = !parallelToolCalls && callsStarted > 0
        guard !droppingCall else { return }
        pendingCalls.append(.start(call, index: callsStarted))
        callsStarted += 1
    }

    /// A named tool choice's answer text: the arguments of its one call, started by the first piece.
    private func namedCallArguments(_ piece: String, name: String) {
        if callsStarted == 0 { startCall(ToolCall(id: ToolCallFormat.newID(), name: name, arguments: piece)) } else { addArguments(piece) }
    }

    /// More of the current call's arguments, joined to its piece not yet sent.
    private func addArguments(_ more: String) {
        guard !droppingCall, !more.isEmpty, callsStarted > 0 else { return }
        if let last = pendingCalls.last, last.call == callsStarted - 1 {
            pendingCalls[pendingCalls.count - 1] = ToolCallDelta(call: last.call, id: last.id, name: last.name,
                                                                 arguments: last.arguments + more)
        } else {
            pendingCalls.append(ToolCallDelta(call: callsStarted - 1, id: nil, name: nil, arguments: more))
        }
    }

    func received(_ response: GenerateResponse) -> Bool {
        if let usage = response.usage { cachedPromptTokens = Int(usage.cachedPromptTokens) }
        if wantsPromptLogprobs && generated == 0 {
            guard response.promptLogprobs.count == prompt - 1 else {
                failure = APIError.server("decode sent \(response.promptLogprobs.count) prompt logprobs for a \(prompt)-token prompt")
                return false
            }
            promptLogprobs = response.promptLogprobs
        }
        if echoesOnly && !response.tokens.isEmpty {   // decode's first token: timed, not sent
            metrics.timeToFirstToken.recordSeconds(monotonicSeconds() - start)
            finish = "length"
            return false
        }
        for (i, token) in response.tokens.enumerated() {
            let now = monotonicSeconds()
            if generated == 0 {
                metrics.timeToFirstToken.recordSeconds(now - start)
            } else {
                metrics.interTokenLatency.recordSeconds(now - lastTokenAt)
            }
            lastTokenAt = now
            generated += 1
            if keepsTokens { tokens.append(token) }
            // The EOS or stop id that ended the sequence is not part of the text (as vLLM), unless
            // include_stop_str_in_output.
            let endsIt = response.finishReason == .stop && i == response.tokens.count - 1
            if !endsIt || includeStopString { take(Int(token.tokenId)) }
            if text.stoppedBy != nil { finish = "stop"; return false }
        }
        switch response.finishReason {
        case .unspecified: return true
        case .stop: finish = "stop"; stopReason = response.stopTokenId.map { .token(Int($0)) }
        case .length: finish = "length"
        case .cancelled, .deadline, .error:
            failure = APIError.server("decode ended the request: \(response.finishReason)")
        }
        return false
    }

    func ended(_ error: Error?) {
        if let error { return calls.fail(error) }
        if let failure { return calls.fail(failure) }
        guard var reason = finish else { return calls.fail(APIError.server("decode ended the stream without a finish reason")) }
        if reasoningSplitter != nil { pendingReasoning += reasoningText.finish() }
        var tail = ""
        for piece in splitter?.finish() ?? [] {
            switch piece {
            case .text(let id): if text.stoppedBy == nil { tail += text.append(id) }
            case .arguments(let more): addArguments(more)
            case .started: break   // a finish only ends what was started
            }
        }
        tail += text.finish()
        if let matched = text.stoppedBy {
            reason = "stop"
            stopReason = .text(matched)
            if includeStopString { tail += matched }
        }
        if case .named(let name)? = forced {
            // As vLLM: the call carries the whole answer; the finish reason is the sequence's.
            namedCallArguments(tail, name: name)
            tail = ""
        } else if forced == .required {
            // The calls are the whole answer (kept as text when it is not whole JSON of their shape).
            let calls = ForcedToolCalls.requiredCalls(forcedReply + tail)
            if calls.isEmpty { tail = forcedReply + tail } else { calls.forEach(startCall); tail = "" }
        } else if reason == "stop" && stopReason == nil && callsStarted > 0 {
            reason = "tool_calls"   // as vLLM: the model's EOS after calls
        }
        metrics.promptTokens.increment(by: prompt)
        metrics.generationTokens.increment(by: generated)
        metrics.endToEnd.recordSeconds(monotonicSeconds() - start)
        send(tail, reason, stopReason)
        calls.choiceDone()
    }
}
