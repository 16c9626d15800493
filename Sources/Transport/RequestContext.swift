/// What a server handler knows about its call: method, client metadata, deadline, cancellation;
/// and the metadata it answers with.
public final class RequestContext {
    public let method: String
    public let metadata: Metadata
    public let deadline: Deadline
    private let call: ServerCall

    /// Initial metadata sent with the first response (set before the first send).
    public var responseMetadata = Metadata()
    /// Trailing metadata sent with the status.
    public var trailingMetadata = Metadata()

    init(method: String, metadata: Metadata, deadline: Deadline, call: ServerCall) {
        self.method = method
        self.metadata = metadata
        self.deadline = deadline
        self.call = call
    }

    /// True once the client cancelled, the deadline passed or the connection dropped.
    public var isCancelled: Bool { call.isCancelled || deadline.hasPassed }

    /// Runs `action` (on the transport's thread; keep it short) when the client cancels the call,
    /// or at once if it already has: work blocked elsewhere on the call's behalf can stop then,
    /// instead of at its next look at `isCancelled`.
    public func whenCancelled(_ action: @escaping () -> Void) { call.whenCancelled(action) }

    /// The error to end this call with once its caller is gone: DEADLINE_EXCEEDED past the deadline,
    /// CANCELLED otherwise (`TransportError.callerGone`).
    public func callerGone(_ what: String) -> TransportError { .callerGone(what, deadline: deadline) }

    /// Ends the call now with `code` (server-side cancel): the client's stream throws this status,
    /// later sends throw.
    public func cancel(_ code: StatusCode = .cancelled, _ message: String) { call.cancel(code, message) }
}
