import CGRPC
import Foundation
import Wire

/// A gRPC server on the C core: unary and server-streaming handlers by method path, each call
/// handled on its own thread. Listens on 127.0.0.1 unless told otherwise; plaintext unless its
/// security holds TLS material; with a token, every call but the health service's must carry
/// `authorization: Bearer <token>` and is refused before its request is read otherwise
/// (UNAUTHENTICATED: none; PERMISSION_DENIED: another token). Shut down with
/// `shutdown(gracePeriod:)`: drain, then cancel, then destroy.
public final class TransportServer {
    /// Request bytes in, response bytes out; throw TransportError.status to answer a non-OK status.
    public typealias UnaryHandler = (RequestContext, [UInt8]) throws -> [UInt8]
    /// Request bytes in, responses through the writer; returning ends the call OK.
    public typealias StreamingHandler = (RequestContext, [UInt8], StreamWriter) throws -> Void

    private enum Handler {
        case unary(UnaryHandler)
        case streaming(StreamingHandler)
    }

    public let host: String
    public let security: ServerSecurity
    /// The bound port (the one the system chose when asked for port 0), after `start`.
    public private(set) var port: Int
    private let maxMessageBytes: Int
    /// Calls whose handlers may run at once (one thread each); the next one is refused with
    /// RESOURCE_EXHAUSTED instead of growing threads without bound.
    public var maxConcurrentCalls: Int { limiter.limit }
    private let limiter: HandlerLimiter
    private var handlers: [String: Handler] = [:]
    /// Methods callers reach without the token (the health service: probes often cannot send one).
    private var tokenExempt: Set<String> = []
    private var refusedCount = 0
    private let monitor = Monitor()
    private let tracker = CallTracker()
    private var server: OpaquePointer?  // grpc_server*
    private var poller: CompletionQueuePoller?
    private var shuttingDown = false
    private var stopped = false
    /// grpc_server_request_call slots kept open, so new calls never wait for a slot.
    private let pendingRequests = 4
    /// The health service's board, told first when the server shuts down (ends Watch streams).
    private var healthBoard: HealthStatusBoard?

    public static let defaultMaxConcurrentCalls = 256

    public init(host: String = "127.0.0.1", port: Int, maxMessageBytes: Int = 64 << 20,
                maxConcurrentCalls: Int = TransportServer.defaultMaxConcurrentCalls, security: ServerSecurity = .plaintext) {
        GRPCRuntime.ensureInitialized()
        self.host = host
        self.security = security
        self.port = port
        self.maxMessageBytes = maxMessageBytes
        limiter = HandlerLimiter(limit: maxConcurrentCalls)
    }

    /// Handlers running now.
    public var activeCalls: Int { limiter.running }

    deinit { shutdown(gracePeriod: 0) }

    public func registerUnary(_ method: String, _ handler: @escaping UnaryHandler) {
        monitor.locked { handlers[method] = .unary(handler) }
    }

    public func registerServerStreaming(_ method: String, _ handler: @escaping StreamingHandler) {
        monitor.locked { handlers[method] = .streaming(handler) }
    }

    /// Calls refused for a missing or wrong token since start.
    public var refusedCalls: Int { monitor.locked { refusedCount } }

    /// `methods` need no token.
    func exemptFromToken(_ methods: [String]) {
        monitor.locked { tokenExempt.formUnion(methods) }
    }

    func attachHealthBoard(_ board: HealthStatusBoard) {
        monitor.locked { healthBoard = board }
    }

    /// Binds and starts serving.
    public func start() throws {
        try monitor.locked {
            guard server == nil, !stopped else { throw TransportError.invalidUse("server on \(host):\(port) started twice") }
            let created = ChannelArguments.withArgs(maxMessageBytes: maxMessageBytes, exclusivePort: true) {
                grpc_server_create($0, nil)!
            }
            let poller = CompletionQueuePoller(name: "grpc-server-cq")
            grpc_server_register_completion_queue(created, poller.queue, nil)
            let address = "\(host):\(port)"
            let credentials = Credentials.server(security.tls)
            let bound = grpc_server_add_http2_port(created, address, credentials)
            grpc_server_credentials_release(credentials)
            guard bound > 0 else {
                grpc_server_destroy(created)
                poller.shutdown(wait: true)
                throw security.tls == nil ? TransportError.bindFailed(address: address) : TransportError.tlsBindFailed(address: address)
            }
            port = Int(bound)
            grpc_server_start(created)
            server = created
            self.poller = poller
            for _ in 0..<pendingRequests { requestCallLocked() }
        }
    }

    /// Offers one slot for a new call (caller holds the lock).
    private func requestCallLocked() {
        guard let server, let poller, !shuttingDown else { return }
        let slot = IncomingCallSlot()
        let tag = BatchCompletion.tag { [weak self] success in
            withExtendedLifetime(slot) {}
            guard let self else {
                if success, let call = slot.call {  // server object already gone: refuse the call
                    _ = grpc_call_cancel_with_status(call, GRPC_STATUS_UNAVAILABLE, "server shutting down", nil)
                    grpc_call_unref(call)
                }
                return
            }
            if success, let call = slot.call { self.accept(call, slot: slot, poller: poller) }
            self.monitor.locked { self.requestCallLocked() }
        }
        let result = grpc_server_request_call(server, slot.callPointer, slot.details, slot.metadata, poller.queue,
                                              poller.queue, tag)
        if result != GRPC_CALL_OK { BatchCompletion.discard(tag: tag) }
    }

    /// Runs on the queue's thread: wraps the new call and reads its request.
    private func accept(_ raw: OpaquePointer, slot: IncomingCallSlot, poller: CompletionQueuePoller) {
        let method = Slices.string(slot.details.pointee.method)
        let call = ServerCall(call: raw, method: method, metadata: Metadata(slot.metadata.pointee),
                              deadline: Deadline(slot.details.pointee.deadline), poller: poller, tracker: tracker)
        let (handler, exempt) = monitor.locked { (handlers[method], tokenExempt.contains(method)) }
        if let token = security.token, !exempt {
            switch token.check(authorization: call.metadata[AuthToken.headerKey]) {
            case .accepted: break
            case .missing:
                monitor.locked { refusedCount += 1 }
                call.refuse(.unauthenticated, "this server requires a token: send metadata 'authorization: Bearer <token>' (--auth-token-file)")
                return
            case .wrong:
                monitor.locked { refusedCount += 1 }
                call.refuse(.permissionDenied, "the token in 'authorization' metadata is not this server's")
                return
            }
        }
        let limiter = self.limiter
        call.begin { call, request in
            let context = RequestContext(method: call.method, metadata: call.metadata, deadline: call.deadline, call: call)
            guard let handler else {
                call.finish(code: .unimplemented, message: "method \(call.method) is not served here", context: context,
                            wait: false)
                return
            }
            guard let request else {
                call.finish(code: .internal, message: "call \(call.method) ended before its request arrived",
                            context: context, wait: false)
                return
            }
            guard limiter.acquire() else {
                call.finish(code: .resourceExhausted,
                            message: "server busy: \(limiter.limit) calls in progress (max concurrent calls); retry later",
                            context: context, wait: false)
                return
            }
            let requestBytes = request.bytes()
            _ = JoinableThread(name: "grpc-handler") {
                TransportServer.run(handler, call: call, context: context, request: requestBytes)
                limiter.release()
            }
        }
    }

    /// Runs the handler and ends the call with its outcome. One rule for time: a call whose caller's
    /// deadline has passed has failed, whatever its handler made of it — it ends DEADLINE_EXCEEDED,
    /// never OK or CANCELLED. (The client's own deadline timer may fire late on a loaded host; a
    /// status sent first would have become the client's.)
    private static func run(_ handler: Handler, call: ServerCall, context: RequestContext, request: [UInt8]) {
        do {
            var response: [UInt8]?
            switch handler {
            case let .unary(body): response = try body(context, request)
            case let .streaming(body): try body(context, request, StreamWriter(call: call, context: context))
            }
            if context.deadline.hasPassed { throw TransportError.status(.deadlineExceeded, "the call: the client's deadline passed") }
            call.finish(code: .ok, message: "", lastMessage: response.map(OutgoingBuffer.make), context: context)
        } catch {
            var (code, message) = TransportError.statusOf(error)
            if code == .cancelled && context.deadline.hasPassed { code = .deadlineExceeded }
            call.finish(code: code, message: message, context: context)
        }
    }

    /// Stops accepting calls, lets calls in flight finish for up to `gracePeriod` seconds, cancels
    /// the rest, waits for their handlers, then destroys the server and drains its queue.
    public func shutdown(gracePeriod: Double = 5) {
        let (server, poller) = monitor.locked { () -> (OpaquePointer?, CompletionQueuePoller?) in
            guard !stopped else { return (nil, nil) }
            stopped = true
            shuttingDown = true
            return (self.server, self.poller)
        }
        guard let server, let poller else { return }
        monitor.locked { healthBoard }?.close()   // watchers see NOT_SERVING and end instead of holding the drain
        let notified = Monitor()
        var isNotified = false
        let tag = BatchCompletion.tag { _ in
            notified.locked {
                isNotified = true
                notified.broadcast()
            }
        }
        grpc_server_shutdown_and_notify(server, poller.queue, tag)
        let graceEnd = Deadline.after(seconds: gracePeriod)
        let drained = notified.locked { () -> Bool in
            while !isNotified, let left = graceEnd.remainingSeconds, left > 0 { notified.wait(seconds: left) }
            return isNotified
        }
        if !drained || !tracker.waitForNone(seconds: max(graceEnd.remainingSeconds ?? 0, 0)) {
            grpc_server_cancel_all_calls(server)
        }
        notified.locked { while !isNotified { notified.wait(seconds: 1) } }
        // Cancelled handlers fail their next send and return; a handler stuck elsewhere is its own bug.
        _ = tracker.waitForNone(seconds: 60)
        grpc_server_destroy(server)
        poller.shutdown(wait: true)
        monitor.locked {
            self.server = nil
            self.poller = nil
        }
    }
}

/// Counts running handler threads against the server's cap.
final class HandlerLimiter: @unchecked Sendable {
    let limit: Int
    private let lock = NSLock()
    private var count = 0

    init(limit: Int) { self.limit = max(1, limit) }

    var running: Int { lock.lock(); defer { lock.unlock() }; return count }

    /// Takes a slot; false when all `limit` are taken.
    func acquire() -> Bool {
        lock.lock(); defer { lock.unlock() }
        guard count < limit else { return false }
        count += 1
        return true
    }

    func release() { lock.lock(); count -= 1; lock.unlock() }
}

/// The storage grpc_server_request_call fills for one incoming call.
final class IncomingCallSlot {
    let callPointer = UnsafeMutablePointer<OpaquePointer?>.allocate(capacity: 1)
    let details = UnsafeMutablePointer<grpc_call_details>.allocate(capacity: 1)
    let metadata = UnsafeMutablePointer<grpc_metadata_array>.allocate(capacity: 1)

    init() {
        callPointer.initialize(to: nil)
        grpc_call_details_init(details)
        grpc_metadata_array_init(metadata)
    }

    var call: OpaquePointer? { callPointer.pointee }

    deinit {
        grpc_call_details_destroy(details)
        grpc_metadata_array_destroy(metadata)
        callPointer.deallocate()
        details.deallocate()
        metadata.deallocate()
    }
}
