import Foundation
import Transport
import Wire

/// What receives one routed Generate call's responses, on the call's own thread (no hop to another
/// task per token: the first token and each one after reach the HTTP writer with one hand-off).
protocol DecodeCallConsumer: AnyObject, Sendable {
    /// One response from the decode daemon; false ends the call now (it is cancelled on the daemon).
    func received(_ response: GenerateResponse) -> Bool
    /// The call's end, once: nil after its last response or a `received` that said false; the
    /// error otherwise (CancellationError after `cancel()`).
    func ended(_ error: Error?)
}

/// One Generate call routed by the pool. The blocking gRPC stream runs on a pooled thread; ending
/// it early (stop string, client gone) cancels the call, so decode and prefill drop the request
/// and free its pages. A call that fails before its first token is retried once on another instance.
enum DecodeCall {
    /// Statuses that say the request itself is wrong: another instance would say the same.
    private static let final: Set<StatusCode> = [.invalidArgument, .failedPrecondition, .outOfRange]

    struct Handle: Sendable {
        fileprivate let current: CurrentCall
        /// Ends the call now (any thread); harmless after its end.
        func cancel() { current.cancel() }
    }

    static func start(_ request: GenerateRequest, pool: DecodePool, consumer: DecodeCallConsumer,
                      timeoutSeconds: Double = 3600, onRetry: @escaping @Sendable () -> Void = {}) -> Handle {
        let current = CurrentCall()
        let work = Int(request.promptTokenIds.count) + Int(request.maxNewTokens)
        // The first attempt's call starts here, on the caller's thread (starting does not block):
        // the pooled thread that reads it wakes while decode works, not before the request leaves.
        let first = pool.pick().map { instance -> Attempt in
            instance.begin(tokens: work)
            return Attempt(instance: instance, call: Result {
                try instance.channel.serverStreaming(method: MethodPath.generate, request: request,
                                                     deadline: .after(seconds: timeoutSeconds))
            })
        }
        BlockingThreads.shared.run {
            consumer.ended(run(request, first: first, pool: pool, consumer: consumer, current: current, work: work,
                               timeoutSeconds: timeoutSeconds, onRetry: onRetry))
        }
        return Handle(current: current)
    }

    /// An instance chosen (its work counted) and its call, started or failed to start.
    private struct Attempt: @unchecked Sendable {
        let instance: DecodeInstance
        let call: Result<ResponseStream, Error>
    }

    /// The call with its one retry; the error it ended with, or nil.
    private static func run(_ request: GenerateRequest, first: Attempt?, pool: DecodePool, consumer: DecodeCallConsumer,
                            current: CurrentCall, work: Int, timeoutSeconds: Double, onRetry: () -> Void) -> Error? {
        var tried: Set<String> = []
        var lastError: Error = APIError.overloaded(status: 503, "no decode instance is ready")
        for attempt in 0..<2 {
            let chosen: Attempt
            if attempt == 0, let first {
                chosen = first
            } else {
                guard !current.isCancelled, let instance = pool.pick(excluding: tried) else { break }
                instance.begin(tokens: work)
                chosen = Attempt(instance: instance, call: Result {
                    try instance.channel.serverStreaming(method: MethodPath.generate, request: request,
                                                         deadline: .after(seconds: timeoutSeconds))
                })
            }
            let instance = chosen.instance
            if attempt > 0 { onRetry() }
            tried.insert(instance.target)
            defer { instance.end(tokens: work) }
            if current.isCancelled {
                if case let .success(call) = chosen.call { call.cancel() }
                return CancellationError()
            }
            var sawToken = false
            do {
                let call = try chosen.call.get()
                guard current.set(call) else { return CancellationError() }   // the consumer already left
                while let bytes = try call.next() {
                    let response = try bytes.withUnsafeBytes { try GenerateResponse(decoding: $0) }
                    if !response.tokens.isEmpty { sawToken = true }
                    if !consumer.received(response) { call.cancel(); return nil }
                }
                return nil
            } catch {
                if current.isCancelled { return CancellationError() }
                lastError = Self.apiError(error, target: instance.target)
                if case let TransportError.status(code, _) = error {
                    if code == .unavailable { instance.markUnreachable() }
                    if Self.final.contains(code) { break }
                }
                if sawToken { break }   // tokens already went out: no silent restart
            }
        }
        return lastError
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

/// The call in progress, cancellable from the consumer's side at any moment.
fileprivate final class CurrentCall: @unchecked Sendable {
    private let lock = NSLock()
    private var call: ResponseStream?
    private var cancelled = false

    /// Records the new call; false (and the call cancelled) when the consumer already left.
    func set(_ call: ResponseStream) -> Bool {
        let ok = lock.withLock { () -> Bool in
            if cancelled { return false }
            self.call = call
            return true
        }
        if !ok { call.cancel() }
        return ok
    }

    func cancel() {
        let call = lock.withLock { () -> ResponseStream? in cancelled = true; return self.call }
        call?.cancel()
    }

    var isCancelled: Bool { lock.withLock { cancelled } }
}
