import CGRPC

/// Client side of one call: sends the single request, keeps up to `maxBuffered` received
/// messages queued (the queue's thread starts the next RECV_MESSAGE at once while there is room,
/// so the socket keeps moving while the consumer verifies and copies), then the status.
final class ClientCall {
    private let call: OpaquePointer  // grpc_call*
    private let poller: CompletionQueuePoller
    private let owner: AnyObject  // the channel core; keeps channel and queue alive
    let method: String
    private let maxBuffered: Int
    private let monitor = Monitor()
    /// Push mode: runs on the queue's thread after each message or the status arrived (never
    /// concurrently with itself: one thread per queue); it drains the call with `poll()`. Dropped
    /// after the last completion, so a consumer holding the stream makes no lasting cycle.
    private var onReady: (() -> Void)?  // guarded by `monitor`

    // Guarded by `monitor`.
    private var buffered: [ReceivedMessage] = []
    private var bufferedHead = 0
    private var receiving = false
    private var receiveEnded = false
    private var status: (code: StatusCode, message: String)?
    private var cancelledLocally = false
    private var initialMetadata: Metadata?
    private var trailingMetadata = Metadata()

    // C storage the in-flight batches write into.
    private let messageSlot = UnsafeMutablePointer<UnsafeMutablePointer<grpc_byte_buffer>?>.allocate(capacity: 1)
    private let initialArray = UnsafeMutablePointer<grpc_metadata_array>.allocate(capacity: 1)
    private let trailingArray = UnsafeMutablePointer<grpc_metadata_array>.allocate(capacity: 1)
    private let statusSlot = UnsafeMutablePointer<grpc_status_code>.allocate(capacity: 1)
    private let detailsSlot = UnsafeMutablePointer<grpc_slice>.allocate(capacity: 1)
    private let errorStringSlot = UnsafeMutablePointer<UnsafePointer<CChar>?>.allocate(capacity: 1)

    init(call: OpaquePointer, poller: CompletionQueuePoller, owner: AnyObject, method: String, maxBuffered: Int,
         onReady: (() -> Void)? = nil) {
        self.call = call
        self.onReady = onReady
        self.poller = poller
        self.owner = owner
        self.method = method
        self.maxBuffered = max(1, maxBuffered)
        messageSlot.initialize(to: nil)
        grpc_metadata_array_init(initialArray)
        grpc_metadata_array_init(trailingArray)
        statusSlot.initialize(to: GRPC_STATUS_OK)
        detailsSlot.initialize(to: grpc_empty_slice())
        errorStringSlot.initialize(to: nil)
        TransportDiagnostics.adjust(calls: 1)
    }

    deinit {
        grpc_call_unref(call)
        TransportDiagnostics.adjust(calls: -1)
        grpc_metadata_array_destroy(initialArray)
        grpc_metadata_array_destroy(trailingArray)
        grpc_slice_unref(detailsSlot.pointee)
        if let error = errorStringSlot.pointee { gpr_free(UnsafeMutableRawPointer(mutating: error)) }
        if let leftover = messageSlot.pointee { grpc_byte_buffer_destroy(leftover) }
        messageSlot.deallocate()
        initialArray.deallocate()
        trailingArray.deallocate()
        statusSlot.deallocate()
        detailsSlot.deallocate()
        errorStringSlot.deallocate()
    }

    /// Sends metadata, the request and half-close; starts receiving status and messages.
    func start(request: UnsafeMutablePointer<grpc_byte_buffer>, metadata: Metadata) throws {
        let outgoing = OutgoingMetadata(metadata)
        let sendOps = [Op.sendInitialMetadata(outgoing), Op.sendMessage(request), Op.sendCloseFromClient(),
                       Op.recvInitialMetadata(initialArray)]
        let sent = poller.startBatch(call, sendOps) { [self] _ in
            grpc_byte_buffer_destroy(request)
            withExtendedLifetime(outgoing) {}
            monitor.locked {
                initialMetadata = Metadata(initialArray.pointee)
                monitor.broadcast()
            }
        }
        guard sent == GRPC_CALL_OK else {
            grpc_byte_buffer_destroy(request)
            throw TransportError.callFailed(method: method, detail: "start_batch(send) returned \(sent.rawValue)")
        }
        var statusOp = grpc_op()
        statusOp.op = GRPC_OP_RECV_STATUS_ON_CLIENT
        statusOp.data.recv_status_on_client.trailing_metadata = trailingArray
        statusOp.data.recv_status_on_client.status = statusSlot
        statusOp.data.recv_status_on_client.status_details = detailsSlot
        statusOp.data.recv_status_on_client.error_string = errorStringSlot
        let statusStarted = poller.startBatch(call, [statusOp]) { [self] _ in
            monitor.locked {
                var message = Slices.string(detailsSlot.pointee)
                if message.isEmpty, let error = errorStringSlot.pointee { message = String(cString: error) }
                let code = StatusCode(wire: Int32(statusSlot.pointee.rawValue))
                if code == .cancelled && cancelledLocally && message.isEmpty { message = "cancelled by the client" }
                status = (code, message)
                trailingMetadata = Metadata(trailingArray.pointee)
                monitor.broadcast()
            }
            notifyReady()
        }
        guard statusStarted == GRPC_CALL_OK else {
            grpc_call_cancel(call, nil)
            throw TransportError.callFailed(method: method, detail: "start_batch(status) returned \(statusStarted.rawValue)")
        }
        monitor.locked { startReceiveLocked() }
    }

    /// Starts one RECV_MESSAGE (caller holds the lock).
    private func startReceiveLocked() {
        receiving = true
        let started = poller.startBatch(call, [Op.recvMessage(messageSlot)]) { [self] _ in
            monitor.locked {
                receiving = false
                if let buffer = messageSlot.pointee {
                    messageSlot.pointee = nil
                    if let message = ReceivedMessage(taking: buffer) { buffered.append(message) }
                    if buffered.count - bufferedHead < maxBuffered { startReceiveLocked() }
                } else {
                    receiveEnded = true
                }
                monitor.broadcast()
            }
            notifyReady()
        }
        if started != GRPC_CALL_OK {
            receiving = false
            receiveEnded = true
        }
    }

    /// Push mode: tells the consumer something arrived (the queue's thread, after a completion).
    private func notifyReady() {
        let callback = monitor.locked { () -> (() -> Void)? in
            let callback = onReady
            if receiveEnded && status != nil { onReady = nil }   // no completion follows the last
            return callback
        }
        callback?()
    }

    /// The next message; nil after the last one when the status is OK; throws the status otherwise.
    func next() throws -> ReceivedMessage? {
        try monitor.locked {
            while true {
                switch try takeLocked() {
                case .message(let message): return message
                case .end: return nil
                case .pending: monitor.wait()
                }
            }
        }
    }

    /// What is there now, without waiting (push mode's `onReady` drains with it).
    func poll() throws -> StreamPoll { try monitor.locked { try takeLocked() } }

    private func takeLocked() throws -> StreamPoll {
        if bufferedHead < buffered.count {
            let message = buffered[bufferedHead]
            bufferedHead += 1
            if bufferedHead == buffered.count {
                buffered.removeAll(keepingCapacity: true)
                bufferedHead = 0
            }
            if !receiving && !receiveEnded { startReceiveLocked() }
            return .message(message)
        }
        if receiveEnded, let status {
            guard status.code == .ok else { throw TransportError.status(status.code, status.message) }
            return .end
        }
        return .pending
    }

    /// Cancels the call (any thread); the peer sees CANCELLED.
    func cancel() {
        monitor.locked { cancelledLocally = true }
        grpc_call_cancel(call, nil)
    }

    var isFinished: Bool { monitor.locked { receiveEnded && status != nil } }

    var responseInitialMetadata: Metadata? { monitor.locked { initialMetadata } }

    var responseTrailingMetadata: Metadata { monitor.locked { trailingMetadata } }
}
