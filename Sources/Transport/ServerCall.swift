import CGRPC
import Wire

/// Server side of one call: receives the request, runs the handler on its own thread, sends
/// responses with one SEND_MESSAGE in flight, then the status. Unrefs the call when every batch
/// and the handler are done (the last reference goes).
final class ServerCall {
    private let call: OpaquePointer  // grpc_call*
    private let poller: CompletionQueuePoller
    private let tracker: CallTracker
    let method: String
    let metadata: Metadata
    let deadline: Deadline
    private let monitor = Monitor()

    // Guarded by `monitor`.
    private var cancelled = false
    private var sendInFlight = false
    private var sendFailed = false
    private var initialMetadataSent = false
    private var statusSent = false
    /// Run once when the client cancels (dropped at a normal end).
    private var onCancel: [() -> Void] = []

    private let cancelledSlot = UnsafeMutablePointer<Int32>.allocate(capacity: 1)
    private let messageSlot = UnsafeMutablePointer<UnsafeMutablePointer<grpc_byte_buffer>?>.allocate(capacity: 1)

    init(call: OpaquePointer, method: String, metadata: Metadata, deadline: Deadline, poller: CompletionQueuePoller,
         tracker: CallTracker) {
        self.call = call
        self.method = method
        self.metadata = metadata
        self.deadline = deadline
        self.poller = poller
        self.tracker = tracker
        cancelledSlot.initialize(to: 0)
        messageSlot.initialize(to: nil)
        TransportDiagnostics.adjust(calls: 1)
        tracker.callStarted()
    }

    deinit {
        if let leftover = messageSlot.pointee { grpc_byte_buffer_destroy(leftover) }
        grpc_call_unref(call)
        TransportDiagnostics.adjust(calls: -1)
        cancelledSlot.deallocate()
        messageSlot.deallocate()
        tracker.callEnded()
    }

    /// Watches for the call's end (cancel shows up here) and reads the request; `received`
    /// runs on the queue's thread with the request (nil if the client sent none).
    func begin(_ received: @escaping (ServerCall, ReceivedMessage?) -> Void) {
        _ = poller.startBatch(call, [Op.recvCloseOnServer(cancelledSlot)]) { [self] _ in
            let actions = monitor.locked { () -> [() -> Void] in
                if cancelledSlot.pointee != 0 { cancelled = true }
                monitor.broadcast()
                defer { onCancel = [] }
                return cancelled ? onCancel : []
            }
            for action in actions { action() }
        }
        let started = poller.startBatch(call, [Op.recvMessage(messageSlot)]) { [self] _ in
            let buffer = messageSlot.pointee
            messageSlot.pointee = nil
            received(self, buffer.flatMap { ReceivedMessage(taking: $0) })
        }
        if started != GRPC_CALL_OK { cancel(.internal, "could not read the request") }
    }

    /// Answers `code` without reading the request (the caller may not send one to us): nothing
    /// of it is buffered beyond what gRPC already holds, no handler runs.
    func refuse(_ code: StatusCode, _ message: String) {
        _ = poller.startBatch(call, [Op.recvCloseOnServer(cancelledSlot)]) { [self] _ in
            monitor.locked { cancelled = true }
        }
        finish(code: code, message: message,
               context: RequestContext(method: method, metadata: Metadata(), deadline: deadline, call: self), wait: false)
    }

    var isCancelled: Bool { monitor.locked { cancelled } }

    /// Runs `action` when the client cancels the call (at once if it already has).
    func whenCancelled(_ action: @escaping () -> Void) {
        let now = monitor.locked { () -> Bool in
            if cancelled { return true }
            onCancel.append(action)
            return false
        }
        if now { action() }
    }

    /// Cancelled (or failed) with no send in flight: gRPC will write nothing more for this call.
    var isDead: Bool { monitor.locked { (cancelled || sendFailed) && !sendInFlight } }

    func cancel(_ code: StatusCode, _ message: String) {
        monitor.locked { cancelled = true }
        _ = grpc_call_cancel_with_status(call, grpc_status_code(rawValue: numericCast(code.rawValue)), message, nil)
    }

    /// Waits for the previous SEND_MESSAGE, then starts sending `buffer` (taken over).
    func send(_ buffer: UnsafeMutablePointer<grpc_byte_buffer>, context: RequestContext) throws {
        try monitor.locked {
            while sendInFlight { monitor.wait() }
            if cancelled || sendFailed || statusSent {
                grpc_byte_buffer_destroy(buffer)
                throw TransportError.status(.cancelled, statusSent ? "send after the status" : "the call was cancelled")
            }
            var ops: [grpc_op] = []
            var outgoing: OutgoingMetadata?
            if !initialMetadataSent {
                outgoing = OutgoingMetadata(context.responseMetadata)
                ops.append(Op.sendInitialMetadata(outgoing!))
                initialMetadataSent = true
            }
            ops.append(Op.sendMessage(buffer))
            sendInFlight = true
            let started = poller.startBatch(call, ops) { [self] success in
                grpc_byte_buffer_destroy(buffer)
                withExtendedLifetime(outgoing) {}
                monitor.locked {
                    sendInFlight = false
                    if !success { sendFailed = true }
                    monitor.broadcast()
                }
            }
            if started != GRPC_CALL_OK {
                sendInFlight = false
                sendFailed = true
                grpc_byte_buffer_destroy(buffer)
                throw TransportError.status(.internal, "start_batch(send) returned \(started.rawValue)")
            }
        }
    }

    /// Sends the status (with `lastMessage` first, for unary calls); `wait` blocks until it is done
    /// (never on the queue's thread, which is the one completing it).
    func finish(code: StatusCode, message: String, lastMessage: UnsafeMutablePointer<grpc_byte_buffer>? = nil,
                context: RequestContext, wait: Bool = true) {
        monitor.locked {
            while sendInFlight { monitor.wait() }
            var ops: [grpc_op] = []
            var outgoing: OutgoingMetadata?
            if !initialMetadataSent {
                outgoing = OutgoingMetadata(context.responseMetadata)
                ops.append(Op.sendInitialMetadata(outgoing!))
                initialMetadataSent = true
            }
            if let lastMessage { ops.append(Op.sendMessage(lastMessage)) }
            let trailing = OutgoingMetadata(context.trailingMetadata)
            var statusOp = grpc_op()
            statusOp.op = GRPC_OP_SEND_STATUS_FROM_SERVER
            statusOp.data.send_status_from_server.status = grpc_status_code(rawValue: numericCast(code.rawValue))
            statusOp.data.send_status_from_server.trailing_metadata_count = trailing.count
            statusOp.data.send_status_from_server.trailing_metadata = trailing.pointer
            let detailsPointer = UnsafeMutablePointer<grpc_slice>.allocate(capacity: 1)
            detailsPointer.initialize(to: Slices.from(message))
            statusOp.data.send_status_from_server.status_details = detailsPointer
            ops.append(statusOp)
            statusSent = true
            var done = false
            let started = poller.startBatch(call, ops) { [self] _ in
                if let lastMessage { grpc_byte_buffer_destroy(lastMessage) }
                withExtendedLifetime((outgoing, trailing)) {}
                grpc_slice_unref(detailsPointer.pointee)
                detailsPointer.deallocate()
                monitor.locked {
                    done = true
                    monitor.broadcast()
                }
            }
            guard started == GRPC_CALL_OK else {
                if let lastMessage { grpc_byte_buffer_destroy(lastMessage) }
                grpc_slice_unref(detailsPointer.pointee)
                detailsPointer.deallocate()
                return
            }
            while wait && !done { monitor.wait() }
        }
    }
}

/// Counts the server's calls not yet released, so shutdown can wait for them.
final class CallTracker {
    private let monitor = Monitor()
    private var live = 0

    func callStarted() { monitor.locked { live += 1 } }

    func callEnded() {
        monitor.locked {
            live -= 1
            monitor.broadcast()
        }
    }

    /// Waits until no call is live or `seconds` pass; true when none is.
    func waitForNone(seconds: Double) -> Bool {
        let end = Deadline.after(seconds: seconds)
        return monitor.locked {
            while live > 0 {
                guard let left = end.remainingSeconds, left > 0 else { return false }
                monitor.wait(seconds: left)
            }
            return true
        }
    }
}
