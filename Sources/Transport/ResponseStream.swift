/// The responses of one server-streaming call, read from one thread in order. Dropping an
/// unfinished stream cancels the call.
public final class ResponseStream {
    private let call: ClientCall

    init(call: ClientCall) { self.call = call }

    deinit { if !call.isFinished { call.cancel() } }

    /// The next message read in place (segments into gRPC's slices); nil at the OK end;
    /// throws TransportError.status for any other end.
    public func nextMessage() throws -> ReceivedMessage? { try call.next() }

    /// Without waiting: a message, the OK end, or nothing yet; throws TransportError.status for any
    /// other end. For push-mode streams (`onReady`), from their `onReady`.
    public func poll() throws -> StreamPoll { try call.poll() }

    /// The next message copied into an array; nil at the OK end.
    public func next() throws -> [UInt8]? { try call.next()?.bytes() }

    /// Cancels the call from any thread: `next` then throws CANCELLED, the server sees the cancel.
    public func cancel() { call.cancel() }

    /// The server's initial metadata, once it arrived.
    public var initialMetadata: Metadata? { call.responseInitialMetadata }

    /// The server's trailing metadata, once the call ended.
    public var trailingMetadata: Metadata { call.responseTrailingMetadata }
}

/// What a stream has now (`ResponseStream.poll`).
public enum StreamPoll {
    case message(ReceivedMessage)
    /// The call ended with OK after its last message.
    case end
    /// Nothing yet: push mode's `onReady` runs again when something arrives.
    case pending
}
