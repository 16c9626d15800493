import Wire

/// Sends a server-streaming handler's responses. Each `send` first waits for the previous
/// message to complete (one SEND_MESSAGE in flight), then hands this one to gRPC and returns, so
/// preparing the next message overlaps sending this one. Throws once the client cancelled or
/// went away (an error of the very last message shows in the call's status instead).
public final class StreamWriter {
    private let call: ServerCall
    private let context: RequestContext

    init(call: ServerCall, context: RequestContext) {
        self.call = call
        self.context = context
    }

    /// True once the client cancelled, the deadline passed or the connection dropped.
    public var isCancelled: Bool { context.isCancelled }

    public func send(_ bytes: [UInt8]) throws {
        try call.send(OutgoingBuffer.make(bytes), context: context)
    }

    /// Sends a message protobuf-c encodes straight into the outgoing slice (one copy of its payload).
    public func send<M: WireMessage>(_ message: M) throws {
        try call.send(OutgoingBuffer.make(message), context: context)
    }

    /// Sends the message `encoder` packs (e.g. `PrefillResponse.withChunkEncoder`) without
    /// copying its large byte fields: they go to the socket from where they lie, and this returns
    /// only once gRPC released them (so the caller may overwrite that memory right after).
    public func send(_ encoder: MessageEncoder) throws {
        let tracker = BorrowTracker()
        let buffer = tracker.makeBuffer(encoder.encodePieces())
        defer { tracker.waitUntilReleased(orUntil: { call.isDead }) }
        try call.send(buffer, context: context)
    }

    /// Sends `byteCount` bytes written by `fill` straight into the outgoing slice.
    public func send(byteCount: Int, fill: (UnsafeMutableRawPointer) throws -> Void) throws {
        let buffer = try OutgoingBuffer.make(byteCount: byteCount) { destination in
            if let destination { try fill(destination) }
        }
        try call.send(buffer, context: context)
    }
}
