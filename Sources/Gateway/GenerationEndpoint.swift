import Basics
import ChatTemplate
import Foundation
import Hummingbird
import NIOCore
import Wire

/// POST /v1/completions and /v1/chat/completions: parse, route, answer whole or as SSE.
struct GenerationEndpoint: Sendable {
    let served: ServedModel
    let pool: DecodePool
    let metrics: GatewayMetrics
    let admission: Admission
    /// vLLM's `--enable-prompt-tokens-details`: usage carries prompt_tokens_details.cached_tokens.
    let promptTokensDetails: Bool

    /// `connection`: the client's connection; its going away cancels the request (decode and
    /// prefill drop it and free its pages), streamed or not.
    func respond(body: String, kind: GenerationRequest.Kind, connection: ConnectionWatch?) async -> Response {
        let endpoint = kind == .chat ? "chat_completions" : "completions"
        let request: GenerationRequest
        do {
            request = try GenerationRequest(body: body, kind: kind, model: served)
        } catch {
            let apiError = error as? APIError ?? APIError.invalid(nil, "\(error)")
            metrics.request(endpoint: endpoint, finishReason: "error", status: apiError.status)
            return HTTP.error(apiError)
        }
        guard admission.enter() else {
            let apiError = APIError.overloaded(status: 429, "too many requests in flight (limit \(admission.limit))")
            metrics.request(endpoint: endpoint, finishReason: "error", status: 429)
            return HTTP.error(apiError)
        }
        let shapes = OpenAIResponses(kind: kind, model: request.model, role: request.replyRole)
        let run = CompletionRun(request: request, served: served, pool: pool, metrics: metrics, id: shapes.id)
        metrics.running.increment()
        let events = EventCursor(run.events())
        connection?.whenGone { events.cancel() }
        let done = Completion { [metrics, admission] in
            connection?.clear()
            metrics.running.decrement()
            admission.leave()
        }

        // Wait for the first event so that failures before any output (no decode ready, caches full,
        // a request decode refuses) get their HTTP status instead of a 200 stream.
        let first: ChoiceEvent?
        do {
            first = try await events.next()
        } catch {
            done.run()
            return failed(error, endpoint: endpoint, connection: connection)
        }
        if !request.stream {
            return await whole(request: request, shapes: shapes, first: first, events: events, endpoint: endpoint,
                               done: done, connection: connection)
        }
        let body = ResponseBody { writer in
            try await stream(request: request, shapes: shapes, first: first, events: events, endpoint: endpoint,
                             done: done, writer: &writer)
        }
        var headers = HTTPFields()
        headers[.contentType] = "text/event-stream"
        headers[.cacheControl] = "no-cache"
        return Response(status: .ok, headers: headers, body: body)
    }

    /// The answer to a request that failed before its response started: the error's status, or
    /// 499 in the metrics when the client went away (nobody reads the answer then).
    private func failed(_ error: Error, endpoint: String, connection: ConnectionWatch?) -> Response {
        if connection?.isGone == true {
            metrics.request(endpoint: endpoint, finishReason: "abort", status: 499)
            return HTTP.error(APIError(status: 499, message: "client closed the connection", type: "client_closed", param: nil))
        }
        let apiError = error as? APIError ?? APIError.server("\(error)")
        metrics.request(endpoint: endpoint, finishReason: "error", status: apiError.status)
        return HTTP.error(apiError)
    }

    private func whole(request: GenerationRequest, shapes: OpenAIResponses, first: ChoiceEvent?, events: EventCursor,
                       endpoint: String, done: Completion, connection: ConnectionWatch?) async -> Response {
        defer { done.run() }
        let count = request.choiceCount
        var texts = [String](repeating: "", count: count), reasons = [String](repeating: "", count: count)
        var stopReasons = [StopReason?](repeating: nil, count: count)
        var tokens = [[GeneratedToken]](repeating: [], count: count)
        var promptLogprobs = [[PromptTokenLogprobs]?](repeating: nil, count: count)
        var toolCalls = [[ToolCall]](repeating: [], count: count)
        var reasoning = [String](repeating: "", count: count)
        var tally = UsageTally(n: request.n)
        do {
            var event = first
            while let e = event {
                texts[e.index] += e.text
                tokens[e.index] += e.tokens
                if let p = e.promptLogprobs { promptLogprobs[e.index] = p }
                ToolCallDelta.merge(e.toolCalls, into: &toolCalls[e.index])
                reasoning[e.index] += e.reasoning
                if let reason = e.finishReason {
                    reasons[e.index] = reason
                    stopReasons[e.index] = e.stopReason
                    tally.add(e)
                    metrics.request(endpoint: endpoint, finishReason: reason, status: 200)
                }
                event = try await events.next()
            }
        } catch {
            return failed(error, endpoint: endpoint, connection: connection)
        }
        let usage = tally.usage(withDetails: promptTokensDetails)
        let format = LogprobsFormat(text: served.text)
        let logprobs: [Value] = tokens.indices.map { i in
            var offset = 0
            return choiceLogprobs(request, shapes.kind, format, choice: i, tokens[i], promptLogprobs[i], offset: &offset)
        }
        // vLLM's prompt_logprobs: on each completion choice; on the chat response (one prompt).
        let prompts: [Value]? = request.promptLogprobs.map { k in
            promptLogprobs.indices.map { i in format.prompt(ids: request.prompts[i / request.n], promptLogprobs[i] ?? [], top: k) }
        }
        return HTTP.json(shapes.complete(texts: texts, finishReasons: reasons, stopReasons: stopReasons, logprobs: logprobs,
                                         promptLogprobs: prompts, toolCalls: toolCalls,
                                         reasoning: shapes.kind == .chat && served.reasoning != nil ? reasoning : nil, usage: usage))
    }

    private func stream(request: GenerationRequest, shapes: OpenAIResponses, first: ChoiceEvent?, events: EventCursor,
                        endpoint: String, done: Completion, writer: inout any ResponseBodyWriter) async throws {
        defer { done.run() }
        var started = Set<Int>()
        var tally = UsageTally(n: request.n)
        let format = LogprobsFormat(text: served.text)
        // Completions' text_offset: the characters of the choice's earlier tokens' strings, as in a whole response.
        var textOffsets = [Int](repeating: 0, count: request.choiceCount)
        do {
            var event = first
            while let e = event {
                let isFirst = started.insert(e.index).inserted
                func usage(_ completion: Int) -> Value {
                    request.continuousUsage ? OpenAIResponses.usage(prompt: e.promptTokens, completion: completion,
                                                                    cached: promptTokensDetails ? e.cachedPromptTokens : nil) : .none
                }
                let hasDelta = !e.text.isEmpty || e.finishReason != nil || !e.toolCalls.isEmpty || !e.reasoning.isEmpty
                if kindIsChat(shapes), isFirst, hasDelta {
                    // The role goes first, alone, as OpenAI sends it.
                    try await writer.write(HTTP.sse(shapes.chunk(index: e.index, text: "", finishReason: nil, first: true,
                                                                 withUsageField: request.includeUsage, usage: usage(0))))
                }
                if hasDelta {
                    let logprobs = choiceLogprobs(request, shapes.kind, format, choice: e.index, e.tokens, e.promptLogprobs,
                                                  offset: &textOffsets[e.index])
                    try await writer.write(HTTP.sse(shapes.chunk(index: e.index, text: e.text, finishReason: e.finishReason, stopReason: e.stopReason,
                                                                 first: false, withUsageField: request.includeUsage,
                                                                 usage: usage(e.completionTokens), logprobs: logprobs,
                                                                 toolCalls: e.toolCalls,
                                                                 reasoning: e.reasoning)))
                }
                if let reason = e.finishReason {
                    tally.add(e)
                    metrics.request(endpoint: endpoint, finishReason: reason, status: 200)
                }
                event = try await events.next()
            }
        } catch let error as APIError {
            metrics.request(endpoint: endpoint, finishReason: "error", status: error.status)
            try await writer.write(HTTP.sse(error.body))
            try await writer.write(HTTP.done)
            try await writer.finish(nil)
            return
        } catch {
            // The client went away (a write failed) or the task was cancelled: the decode calls are
            // cancelled as `events` ends.
            events.cancel()
            metrics.request(endpoint: endpoint, finishReason: "abort", status: 499)
            throw error
        }
        if tally.finished < request.choiceCount {   // the task was cancelled (connection gone) before the end
            events.cancel()
            metrics.request(endpoint: endpoint, finishReason: "abort", status: 499)
            throw CancellationError()
        }
        if request.includeUsage {
            try await writer.write(HTTP.sse(shapes.usageChunk(tally.usage(withDetails: promptTokensDetails))))
        }
        try await writer.write(HTTP.done)
        try await writer.finish(nil)
    }

    private func kindIsChat(_ shapes: OpenAIResponses) -> Bool { shapes.kind == .chat }

    /// A choice's `logprobs` object for `tokens` (null when the request did not ask): chat's, or
    /// completions' with `offset` (text_offset so far, moved past these tokens) and, with echo, the
    /// prompt's ids and logprobs leading (`promptLogprobs`, on the choice's first event).
    private func choiceLogprobs(_ request: GenerationRequest, _ kind: GenerationRequest.Kind, _ format: LogprobsFormat, choice: Int,
                                _ tokens: [GeneratedToken], _ promptLogprobs: [PromptTokenLogprobs]?, offset: inout Int) -> Value {
        guard let top = request.topLogprobs else { return .none }
        if kind == .chat { return format.chat(tokens, top: top) }
        let prompt = request.echoesLogprobs ? promptLogprobs.map { (request.prompts[choice / request.n], $0) } : nil
        let (logprobs, next) = format.completion(tokens, top: top, offset: offset, prompt: prompt)
        offset = next
        return logprobs
    }
}

/// Reads a run's events across the handler and the response body writer; ending it cancels the run.
final class EventCursor: @unchecked Sendable {
    private var iterator: AsyncThrowingStream<ChoiceEvent, Error>.AsyncIterator
    private let cancelRun: @Sendable () -> Void

    init(_ run: (events: AsyncThrowingStream<ChoiceEvent, Error>, cancel: @Sendable () -> Void)) {
        iterator = run.events.makeAsyncIterator()
        cancelRun = run.cancel
    }

    func next() async throws -> ChoiceEvent? { try await iterator.next() }

    /// Ends the run: its decode calls are cancelled (decode and prefill free the request's pages).
    func cancel() { cancelRun() }

    deinit { cancelRun() }
}

/// Runs its action once.
final class Completion: @unchecked Sendable {
    private let lock = NSLock()
    private var action: (() -> Void)?
    init(_ action: @escaping () -> Void) { self.action = action }
    func run() {
        let pending = lock.withLock { () -> (() -> Void)? in defer { action = nil }; return action }
        pending?()
    }
    deinit { run() }
}

/// The gateway's own admission limit: beyond `limit` requests in flight, 429.
final class Admission: @unchecked Sendable {
    let limit: Int
    private let lock = NSLock()
    private var inFlight = 0

    init(limit: Int) { self.limit = limit }

    func enter() -> Bool {
        lock.withLock {
            guard inFlight < limit else { return false }
            inFlight += 1
            return true
        }
    }

    func leave() { lock.withLock { inFlight -= 1 } }
}

/// A request's usage as its choices finish: prompt tokens and their prefix-cached share once per
/// prompt (its first choice), as vLLM counts usage; completion tokens of every choice.
struct UsageTally {
    let n: Int
    private(set) var prompt = 0, cached = 0, completion = 0, finished = 0

    init(n: Int) { self.n = n }

    /// A choice's last event (the one with its finish reason).
    mutating func add(_ e: ChoiceEvent) {
        if e.index % n == 0 {
            prompt += e.promptTokens
            cached += e.cachedPromptTokens
        }
        completion += e.completionTokens
        finished += 1
    }

    /// The usage object; `prompt_tokens_details.cached_tokens` with `withDetails` (--enable-prompt-tokens-details).
    func usage(withDetails: Bool) -> Value {
        OpenAIResponses.usage(prompt: prompt, completion: completion, cached: withDetails ? cached : nil)
    }
}
