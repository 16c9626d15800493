import CGRPC
import Wire

/// The C channel and the completion queue its calls use; lives until its last call ends.
final class ChannelCore {
    let channel: OpaquePointer  // grpc_channel*
    let poller: CompletionQueuePoller

    init(channel: OpaquePointer, poller: CompletionQueuePoller) {
        self.channel = channel
        self.poller = poller
    }

    deinit {
        grpc_channel_destroy(channel)
        poller.shutdown(wait: false)  // may run on the queue's own thread; the poller destroys the queue
    }
}

/// A client connection to one gRPC server ("127.0.0.1:50051"): plaintext, or TLS (mutual when
/// the security holds a client certificate); with a token, every call carries
/// `authorization: Bearer <token>`. Calls are blocking and may run from many threads at once.
public final class TransportChannel {
    public let target: String
    /// Sent with every call (nil: no token).
    private let token: AuthToken?
    private let monitor = Monitor()
    private var core: ChannelCore?
    /// Received messages a stream queues ahead of its reader.
    public let streamBuffer: Int

    /// - Parameters:
    ///   - maxMessageBytes: largest message sent or received (larger ones end the call with RESOURCE_EXHAUSTED).
    ///   - separateConnection: own TCP connection instead of sharing one with same-args channels.
    ///   - security: TLS and token (default: plaintext, no token).
    public init(target: String, maxMessageBytes: Int = 64 << 20, separateConnection: Bool = false, streamBuffer: Int = 4,
                security: ClientSecurity = .plaintext) {
        GRPCRuntime.ensureInitialized()
        self.target = target
        token = security.token
        self.streamBuffer = streamBuffer
        let poller = CompletionQueuePoller(name: "grpc-client-cq")
        let channel = ChannelArguments.withArgs(maxMessageBytes: maxMessageBytes, localSubchannelPool: separateConnection,
                                                client: true) { args in
            let credentials = Credentials.channel(security.tls)
            defer { grpc_channel_credentials_release(credentials) }
            return grpc_channel_create(target, credentials, args)!
        }
        core = ChannelCore(channel: channel, poller: poller)
    }

    deinit { close() }

    /// Stops new calls; calls in flight finish first, then the channel and its queue go away.
    public func close() { monitor.locked { core = nil } }

    /// Starts a server-streaming call.
    public func serverStreaming(method: String, request: [UInt8], metadata: Metadata = Metadata(),
                                deadline: Deadline = .never) throws -> ResponseStream {
        ResponseStream(call: try startCall(method: method, request: OutgoingBuffer.make(request), metadata: metadata,
                                           deadline: deadline, maxBuffered: streamBuffer))
    }

    /// A server-streaming call whose request is encoded straight into the outgoing buffer.
    public func serverStreaming<Request: WireMessage>(method: String, request: Request, metadata: Metadata = Metadata(),
                                                      deadline: Deadline = .never) throws -> ResponseStream {
        ResponseStream(call: try startCall(method: method, request: OutgoingBuffer.make(request), metadata: metadata,
                                           deadline: deadline, maxBuffered: streamBuffer))
    }

    /// A server-streaming call in push mode: `onReady` runs on the channel's completion-queue thread
    /// whenever a message or the end arrived, and drains the stream with `poll()` (no thread waits
    /// for the call, and a message reaches its consumer without a thread hand-off). `onReady` must
    /// not block: every call on the channel shares that thread.
    public func serverStreaming<Request: WireMessage>(method: String, request: Request, metadata: Metadata = Metadata(),
                                                      deadline: Deadline = .never,
                                                      onReady: @escaping () -> Void) throws -> ResponseStream {
        ResponseStream(call: try startCall(method: method, request: OutgoingBuffer.make(request), metadata: metadata,
                                           deadline: deadline, maxBuffered: streamBuffer, onReady: onReady))
    }

    /// A unary call: exactly one response message, or the call's non-OK status thrown.
    public func unary(method: String, request: [UInt8], metadata: Metadata = Metadata(),
                      deadline: Deadline = .never) throws -> [UInt8] {
        let call = try startCall(method: method, request: OutgoingBuffer.make(request), metadata: metadata,
                                 deadline: deadline, maxBuffered: 1)
        return try Self.single(call).bytes()
    }

    /// A unary call with typed messages.
    public func unary<Request: WireMessage, Response: WireMessage>(
        method: String, request: Request, response: Response.Type, metadata: Metadata = Metadata(),
        deadline: Deadline = .never
    ) throws -> Response {
        let call = try startCall(method: method, request: OutgoingBuffer.make(request), metadata: metadata,
                                 deadline: deadline, maxBuffered: 1)
        let message = try Self.single(call)
        return try message.bytes().withUnsafeBytes { try Response(decoding: $0) }
    }

    private static func single(_ call: ClientCall) throws -> ReceivedMessage {
        guard let message = try call.next() else {
            throw TransportError.status(.internal, "unary call \(call.method) ended OK without a response message")
        }
        guard try call.next() == nil else {
            call.cancel()
            throw TransportError.status(.internal, "unary call \(call.method) got more than one response message")
        }
        return message
    }

    /// GRPC_PROPAGATE_DEFAULTS (a macro Swift cannot import): 0xffff covers every propagation bit.
    private static let propagateDefaults: UInt32 = 0xffff

    private func startCall(method: String, request: UnsafeMutablePointer<grpc_byte_buffer>, metadata: Metadata,
                           deadline: Deadline, maxBuffered: Int, onReady: (() -> Void)? = nil) throws -> ClientCall {
        guard let core = monitor.locked({ core }) else {
            grpc_byte_buffer_destroy(request)
            throw TransportError.invalidUse("call \(method) on a closed channel to \(target)")
        }
        let methodSlice = Slices.from(method)
        defer { grpc_slice_unref(methodSlice) }
        guard let raw = grpc_channel_create_call(core.channel, nil, Self.propagateDefaults, core.poller.queue,
                                                 methodSlice, nil, deadline.grpcTime, nil) else {
            grpc_byte_buffer_destroy(request)
            throw TransportError.callFailed(method: method, detail: "grpc_channel_create_call returned NULL")
        }
        let call = ClientCall(call: raw, poller: core.poller, owner: core, method: method, maxBuffered: maxBuffered,
                              onReady: onReady)
        var metadata = metadata
        if let token { metadata.append(AuthToken.headerKey, token.headerValue) }
        try call.start(request: request, metadata: metadata)
        return call
    }
}

extension OutgoingBuffer {
    /// A byte buffer holding `message` encoded by protobuf-c straight into the slice.
    static func make<M: WireMessage>(_ message: M) -> UnsafeMutablePointer<grpc_byte_buffer> {
        message.withEncoder { encoder in
            make(byteCount: encoder.byteCount) { destination in
                if let destination { encoder.encode(into: destination) }
            }
        }
    }
}

/// grpc_channel_args for clients and servers. Each key is set once: a key given twice silently
/// loses (DESIGN §5); otherwise defaults, which streamed best on loopback.
enum ChannelArguments {
    /// `exclusivePort`: no SO_REUSEPORT (on by default in gRPC), so a second server on a taken
    /// port fails to bind instead of silently sharing it.
    /// `client`: reconnect quickly (first retry after 100 ms, backoff capped at 1 s) instead of
    /// gRPC's 1 s → 120 s, so a daemon that comes (back) up is reachable within about a second;
    /// calls made while disconnected still fail fast with UNAVAILABLE. One connection attempt
    /// (TCP, TLS, the server's HTTP/2 SETTINGS) may take up to 5 s.
    static func withArgs<R>(maxMessageBytes: Int, localSubchannelPool: Bool = false, exclusivePort: Bool = false,
                            client: Bool = false,
                            _ body: (UnsafePointer<grpc_channel_args>) throws -> R) rethrows -> R {
        var entries: [(String, Int32)] = [
            ("grpc.max_receive_message_length", Int32(clamping: maxMessageBytes)),
            ("grpc.max_send_message_length", Int32(clamping: maxMessageBytes)),
        ]
        if client {
            entries += [("grpc.initial_reconnect_backoff_ms", 100), ("grpc.max_reconnect_backoff_ms", 1000),
                        // gRPC core reads this key as the connect timeout (an attempt's deadline is
                        // the later of this and the next backoff), not as a backoff: at 100 ms, fresh
                        // connections to a busy daemon failed UNAVAILABLE "connection attempt timed
                        // out before receiving SETTINGS frame" (the soak, on a loaded host). 5 s covers
                        // a loaded host's handshake and still reports an unreachable address quickly.
                        ("grpc.min_reconnect_backoff_ms", 5_000),
                        // A peer that vanished without a FIN (host down, link cut) fails the call after
                        // ~20 s of unanswered pings instead of at the call's deadline; pings continue
                        // through a long prefill that sends no data yet.
                        ("grpc.keepalive_time_ms", 10_000), ("grpc.keepalive_timeout_ms", 10_000),
                        ("grpc.http2.max_pings_without_data", 0)]
        } else {
            entries += [
                // Half-open or silent clients are found by pings (60 s + 20 s) and idle connections
                // closed after 10 minutes, so dead connections cannot pile up.
                ("grpc.keepalive_time_ms", 60_000), ("grpc.keepalive_timeout_ms", 20_000),
                ("grpc.max_connection_idle_ms", 600_000),
                // Accept the clients' 10 s pings (the default minimum of 5 min would GOAWAY them).
                ("grpc.http2.min_recv_ping_interval_without_data_ms", 5_000),
                ("grpc.http2.min_ping_interval_without_data_ms", 5_000),
            ]
        }
        if localSubchannelPool { entries.append(("grpc.use_local_subchannel_pool", 1)) }
        if exclusivePort { entries.append(("grpc.so_reuseport", 0)) }
        let keys = entries.map { strdup($0.0)! }
        defer { keys.forEach { free($0) } }
        var args: [grpc_arg] = zip(keys, entries).map { key, entry in
            var arg = grpc_arg()
            arg.type = GRPC_ARG_INTEGER
            arg.key = key
            arg.value.integer = entry.1
            return arg
        }
        let quotaKey = strdup("grpc.resource_quota")!   // GRPC_ARG_RESOURCE_QUOTA
        defer { free(quotaKey) }
        if !client {
            var arg = grpc_arg()
            arg.type = GRPC_ARG_POINTER
            arg.key = quotaKey
            arg.value.pointer.p = UnsafeMutableRawPointer(ServerMemory.quota)
            arg.value.pointer.vtable = grpc_resource_quota_arg_vtable()
            args.append(arg)
        }
        return try args.withUnsafeMutableBufferPointer { buffer in
            var channelArgs = grpc_channel_args(num_args: buffer.count, args: buffer.baseAddress)
            return try body(&channelArgs)
        }
    }
}

/// One memory quota for every server in the process: what gRPC core may buffer for incoming calls.
/// Without it, core 1.51 reads a whole oversized message before refusing it (a 300 MiB Stats body
/// took the decode daemon's peak RSS from 44 to 352 MB); with it the stream is reset once the
/// quota is spent (peak 143 MB) and the server keeps serving. Valid requests are a few MB at most;
/// KV leaves servers from our own memory (zero-copy slices), which the quota does not count.
enum ServerMemory {
    static let quota: OpaquePointer = {
        let q = grpc_resource_quota_create("latentserve-server")!
        grpc_resource_quota_resize(q, 96 << 20)
        return q
    }()
}
