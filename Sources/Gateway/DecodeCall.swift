import Foundation
import Transport
import Wire

/// What receives one routed Generate call's responses, on the decode channel's completion-queue
/// thread (the message reaches the HTTP writer with one thread hand-off, and no thread waits per
/// request). Calls never overlap; they must not block.
protocol DecodeCallConsumer: AnyObject, Sendable {
    /// One response from the decode daemon; false ends the call now (it is cancelled on the daemon).
    func received(_ response: GenerateResponse) -> Bool
    /// The call's end, once: nil after its last response or a `received` that said false; the
    /// error otherwise (CancellationError after `cancel()`).
    func ended(_ error: Error?)
}

/// One Generate call routed by the pool, in push mode: the decode channel's completion-queue thread
/// hands each response to the consumer. Ending it early (stop string, client gone) cancels the call,
/// so decode and prefill drop the request and free its pages. A call that fails before its first
/// token is retried once on another instance.
final class DecodeCall: @unchecked Sendable {
    /// Statuses that say the request itself is wrong: another instance would say the same.
    private static let final: Set<StatusCode> = [.invalidArgument, .failedPrecondition, .outOfRange]
    private static let attempts = 2

    private let request: GenerateRequest
    private let pool: DecodePool
    private let timeoutSeconds: Double
    private let onRetry: @Sendable () -> Void
    /// Prompt + max generated tokens: the work an instance is charged while the call runs there.
    private let work: Int

    private let lock = NSLock()
    // Guarded by `lock`.
    private var cancelled = false
    /// The attempt running now (nil before the first starts and after the end).
    private var current: (instance: DecodeInstance, stream: ResponseStream)?
    private var tried: Set<String> = []
    private var attempt = 0
    private var sawToken = false
    private var lastError: Error = APIError.overloaded(status: 503, "no decode instance is ready")
    /// Dropped at the end (the consumer's run holds this call: no cycle outlives the request).
    private var consumer: DecodeCallConsumer?

    private init(_ request: GenerateRequest, pool: DecodePool, consumer: DecodeCallConsumer, timeoutSeconds: Double,
                 onRetry: @escaping @Sendable () -> Void) {
        self.request = request
        self.pool = pool
        self.consumer = consumer
        self.timeoutSeconds = timeoutSeconds
        self.onRetry = onRetry
        work = Int(request.promptTokenIds.count) + Int(request.maxNewTokens)
    }

    /// Starts the call on the least loaded healthy instance (on the caller's thread: starting does
    /// not block); the consumer hears from it on the channel's thread.
    static func start(_ request: GenerateRequest, pool: DecodePool, consumer: DecodeCallConsumer,
                      timeoutSeconds: Double = 3600, onRetry: @escaping @Sendable () -> Void = {}) -> DecodeCall {
        let call = DecodeCall(request, pool: pool, consumer: consumer, timeoutSeconds: timeoutSeconds, onRetry: onRetry)
        call.startAttempt()
        return call
    }

    /// Ends the call now (any thread); harmless after its end.
    func cancel() {
        let stream = lock.withLock { () -> ResponseStream? in cancelled = true; return current?.stream }
        stream?.cancel()
        if stream == nil { finish(CancellationError()) }   // between attempts or before the first
    }

    /// Starts the next attempt on an instance not tried yet, or ends the call with the last error.
    private func startAttempt() {
        let instance: DecodeInstance? = lock.withLock {
            guard !cancelled, attempt < Self.attempts, let instance = pool.pick(excluding: tried) else { return nil }
            attempt += 1
            tried.insert(instance.target)
            return instance
        }
        guard let instance else {
            return finish(lock.withLock { cancelled } ? CancellationError() : lastError)
        }
        if lock.withLock({ attempt }) > 1 { onRetry() }
        instance.begin(tokens: work)
        do {
            // `current` is set under the lock before any response can be handled: `drain` takes it too.
            try lock.withLock {
                let stream = try instance.channel.serverStreaming(method: MethodPath.generate, request: request,
                                                                  deadline: .after(seconds: timeoutSeconds)) { [self] in drain() }
                current = (instance, stream)
                if cancelled { stream.cancel() }
            }
        } catch {
            instance.end(tokens: work)
            failed(error, on: instance)
        }
    }

    /// Hands what arrived to the consumer (the channel's thread; never concurrently with itself).
    private func drain() {
        guard let (instance, stream) = lock.withLock({ current }) else { return }
        do {
            while true {
                switch try stream.poll() {
                case .pending:
                    return
                case .end:
                    return attemptEnded(instance, error: nil)
                case .message(let message):
                    let response = try message.bytes().withUnsafeBytes { try GenerateResponse(decoding: $0) }
                    if !response.tokens.isEmpty { lock.withLock { sawToken = true } }
                    if lock.withLock({ consumer })?.received(response) != true {
                        stream.cancel()
                        return attemptEnded(instance, error: nil)
                    }
                }
            }
        } catch {
            attemptEnded(instance, error: error)
        }
    }

    /// The running attempt is over: the call ends, or (failed before its first token, on an error
    /// another instance may not repeat) the next attempt starts.
    private func attemptEnded(_ instance: DecodeInstance, error: Error?) {
        lock.withLock { current = nil }   // also breaks the stream ↔ onReady cycle
        instance.end(tokens: work)
        guard let error else { return finish(nil) }
        failed(error, on: instance)
    }

    private func failed(_ error: Error, on instance: DecodeInstance) {
        if lock.withLock({ cancelled }) { return finish(CancellationError()) }
        let apiError = Self.apiError(error, target: instance.target)
        var retry = !lock.withLock { sawToken }   // tokens already went out: no silent restart
        if case let TransportError.status(code, _) = error {
            if code == .unavailable { instance.markUnreachable() }
            if Self.final.contains(code) { retry = false }
        }
        lock.withLock { lastError = apiError }
        if retry { startAttempt() } else { finish(apiError) }
    }

    /// The consumer hears the end once.
    private func finish(_ error: Error?) {
        let consumer = lock.withLock { () -> DecodeCallConsumer? in
            defer { self.consumer = nil }
            return self.consumer
        }
        consumer?.ended(error)
    }

    /// The status of a failed call, as the HTTP client should see it.
    static func apiError(_ error: Error, target: String) -> APIError {
        guard case let TransportError.status(code, message) = error else {
            return APIError.server("decode \(target): \(error)")
        }
        switch code {
        case .invalidArgument, .outOfRange, .failedPrecondition: return APIError.invalid(nil, message)
        case .resourceExhausted: return APIError.overloaded(status: 429, "decode \(target) is full: \(message)")
        case .unavailable: return APIError.overloaded(status: 503, "decode \(target) unavailable: \(message)")
        default: return APIError.server("decode \(target): \(code): \(message)")
        }
    }
}
