import Foundation
import Hummingbird
import NIOCore

/// Tells a request handler that its HTTP client has gone, so the request is cancelled all the way
/// to prefill whether or not the response is streamed. Hummingbird gives a handler no such event,
/// and a client that closes its socket only ends the server's input (FIN: the server allows
/// half-closure, so the channel stays open and no write fails while a whole response is still
/// being computed). One watch sits in each connection's pipeline (after the HTTP codec, which
/// passes events through) and runs the in-flight request's action on `inputClosed` or
/// `channelInactive`. A client that half-closes after sending its request counts as gone, as
/// uvicorn (vLLM's server) treats an end of input.
final class ConnectionWatch: ChannelInboundHandler, RemovableChannelHandler, @unchecked Sendable {
    typealias InboundIn = NIOAny   // every read passes through untouched

    private static let lock = NSLock()
    private static var byChannel: [ObjectIdentifier: ConnectionWatch] = [:]

    /// The watch in `channel`'s pipeline (nil for a channel set up without one).
    static func of(_ channel: any Channel) -> ConnectionWatch? {
        lock.withLock { byChannel[ObjectIdentifier(channel)] }
    }

    private let lock = NSLock()
    private var gone = false
    private var onGone: (@Sendable () -> Void)?

    init() {}

    var isGone: Bool { lock.withLock { gone } }

    /// Runs `action` when the client goes (at once if it is gone already) until `clear()`.
    /// HTTP/1.1 runs one request at a time per connection, so one action slot is enough.
    func whenGone(_ action: @escaping @Sendable () -> Void) {
        let runNow = lock.withLock { () -> Bool in
            if gone { return true }
            onGone = action
            return false
        }
        if runNow { action() }
    }

    /// The request ended: its action no longer applies.
    func clear() { lock.withLock { onGone = nil } }

    private func markGone() {
        let action = lock.withLock { () -> (@Sendable () -> Void)? in
            gone = true
            defer { onGone = nil }
            return onGone
        }
        action?()
    }

    func handlerAdded(context: ChannelHandlerContext) {
        Self.lock.withLock { Self.byChannel[ObjectIdentifier(context.channel)] = self }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        Self.lock.withLock { _ = Self.byChannel.removeValue(forKey: ObjectIdentifier(context.channel)) }
        markGone()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed { markGone() }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        markGone()
        context.fireChannelInactive()
    }
}

/// The request context of the gateway's routes: Hummingbird's basics plus the connection's watch.
struct GatewayContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let connection: ConnectionWatch?

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        connection = ConnectionWatch.of(source.channel)
    }
}
