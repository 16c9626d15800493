import CGRPC

/// What to run when one batch (or server notification) completes. Runs on the queue's thread,
/// which is the only place I/O moves (DESIGN §5): keep it to bookkeeping and signalling.
final class BatchCompletion {
    let body: (Bool) -> Void

    init(_ body: @escaping (Bool) -> Void) { self.body = body }

    /// A retained tag for grpc; `run(tag:success:)` releases it.
    static func tag(_ body: @escaping (Bool) -> Void) -> UnsafeMutableRawPointer {
        Unmanaged.passRetained(BatchCompletion(body)).toOpaque()
    }

    static func run(tag: UnsafeMutableRawPointer, success: Bool) {
        Unmanaged<BatchCompletion>.fromOpaque(tag).takeRetainedValue().body(success)
    }

    static func discard(tag: UnsafeMutableRawPointer) {
        Unmanaged<BatchCompletion>.fromOpaque(tag).release()
    }
}

/// A completion queue with its own polling thread. The thread drains the queue until
/// GRPC_QUEUE_SHUTDOWN, then destroys it, so shutting down from any thread (even a completion
/// running on the queue's own thread) is safe.
final class CompletionQueuePoller {
    let queue: OpaquePointer  // grpc_completion_queue*
    private var thread: JoinableThread?

    init(name: String) {
        GRPCRuntime.ensureInitialized()
        let queue = grpc_completion_queue_create_for_next(nil)!
        self.queue = queue
        TransportDiagnostics.adjust(queues: 1)
        thread = JoinableThread(name: name) { CompletionQueuePoller.poll(queue) }
    }

    private static func poll(_ queue: OpaquePointer) {
        while true {
            // A finite deadline keeps the loop responsive to shutdown (DESIGN §5).
            let deadline = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(500, GPR_TIMESPAN))
            let event = grpc_completion_queue_next(queue, deadline, nil)
            switch event.type {
            case GRPC_OP_COMPLETE:
                BatchCompletion.run(tag: event.tag, success: event.success != 0)
            case GRPC_QUEUE_SHUTDOWN:
                grpc_completion_queue_destroy(queue)
                TransportDiagnostics.adjust(queues: -1)
                return
            default:
                continue  // GRPC_QUEUE_TIMEOUT
            }
        }
    }

    /// Starts `ops` on `call`; `completion` runs on the queue's thread with the batch's success.
    func startBatch(_ call: OpaquePointer, _ ops: [grpc_op], _ completion: @escaping (Bool) -> Void) -> grpc_call_error {
        let tag = BatchCompletion.tag(completion)
        let result = ops.withUnsafeBufferPointer { grpc_call_start_batch(call, $0.baseAddress, $0.count, tag, nil) }
        if result != GRPC_CALL_OK { BatchCompletion.discard(tag: tag) }
        return result
    }

    /// Shuts the queue down (no new work after this); `wait` joins the polling thread, which is
    /// done once every pending tag came back.
    func shutdown(wait: Bool) {
        grpc_completion_queue_shutdown(queue)
        if wait { thread?.join() }
    }
}

/// Live gRPC object counts, for leak checks in tests and for daemon stats.
public enum TransportDiagnostics {
    private static let monitor = Monitor()
    private static var queueCount = 0
    private static var callCount = 0

    /// Completion queues not yet destroyed.
    public static var liveQueues: Int { monitor.locked { queueCount } }
    /// grpc_call objects not yet unreferenced (client and server side).
    public static var liveCalls: Int { monitor.locked { callCount } }

    static func adjust(queues: Int = 0, calls: Int = 0) {
        monitor.locked {
            queueCount += queues
            callCount += calls
        }
    }
}

/// Builders for grpc_op values (the C union is awkward to fill in Swift).
enum Op {
    static func sendInitialMetadata(_ metadata: OutgoingMetadata) -> grpc_op {
        var op = grpc_op()
        op.op = GRPC_OP_SEND_INITIAL_METADATA
        op.data.send_initial_metadata.count = metadata.count
        op.data.send_initial_metadata.metadata = metadata.pointer
        return op
    }

    static func sendMessage(_ buffer: UnsafeMutablePointer<grpc_byte_buffer>) -> grpc_op {
        var op = grpc_op()
        op.op = GRPC_OP_SEND_MESSAGE
        op.data.send_message.send_message = buffer
        return op
    }

    static func sendCloseFromClient() -> grpc_op {
        var op = grpc_op()
        op.op = GRPC_OP_SEND_CLOSE_FROM_CLIENT
        return op
    }

    static func recvInitialMetadata(_ array: UnsafeMutablePointer<grpc_metadata_array>) -> grpc_op {
        var op = grpc_op()
        op.op = GRPC_OP_RECV_INITIAL_METADATA
        op.data.recv_initial_metadata.recv_initial_metadata = array
        return op
    }

    static func recvMessage(_ slot: UnsafeMutablePointer<UnsafeMutablePointer<grpc_byte_buffer>?>) -> grpc_op {
        var op = grpc_op()
        op.op = GRPC_OP_RECV_MESSAGE
        op.data.recv_message.recv_message = slot
        return op
    }

    static func recvCloseOnServer(_ cancelled: UnsafeMutablePointer<Int32>) -> grpc_op {
        var op = grpc_op()
        op.op = GRPC_OP_RECV_CLOSE_ON_SERVER
        op.data.recv_close_on_server.cancelled = cancelled
        return op
    }
}
