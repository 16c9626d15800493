import CMPI
import Foundation

/// OpenMPI over MPI_COMM_WORLD. MPI is initialised once per process (thread level ≥ FUNNELED;
/// when only FUNNELED is granted every call must come from the initialising thread), with
/// MPI_ERRORS_RETURN so failures become `CommunicatorError.mpiCallFailed`. A rank that cannot go
/// on calls `abort(code:)` (MPI_Abort) so the job ends instead of hanging in the next collective.
public final class MPICommunicator: Communicator {
    public let rank: Int
    public let size: Int
    /// From MPI_Comm_split_type(MPI_COMM_TYPE_SHARED) at initialisation.
    public let ranksOnThisHost: Int
    private let world: MPI_Comm
    private let initThread: pthread_t
    private let anyThreadAllowed: Bool        // granted level ≥ SERIALIZED
    private var isFinalized = false

    private static let lock = NSLock()
    private static var shared: MPICommunicator?
    private static var finalizedOnce = false

    /// True when this process was started by OpenMPI's mpirun (OMPI_COMM_WORLD_SIZE is set).
    public static var isUnderMPIRun: Bool {
        ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_SIZE"] != nil
    }

    /// Initialises MPI (first call) and returns the process's world communicator (every call).
    /// - Parameter yieldWhenIdle: ranks waiting inside a collective call sched_yield instead of
    ///   spinning (OpenMPI's `mpi_yield_when_idle`, unless the environment sets it). For processes
    ///   that share cores with other busy threads — the prefill daemon's gRPC handlers shipping KV,
    ///   a decode daemon on the same node: a spinning rank otherwise holds a core for a whole
    ///   scheduler slice while the rank it waits for cannot run (measured on the 2-core demo: tiny
    ///   batches of ~2 ms took 26–37 ms about a third of the time, TTFT p50 ~77 ms; with yielding
    ///   ≤ 8 ms and 11–22 ms).
    public static func initialize(yieldWhenIdle: Bool = false) throws -> MPICommunicator {
        if yieldWhenIdle { setenv("OMPI_MCA_mpi_yield_when_idle", "1", 0) }   // read by MPI_Init
        lock.lock()
        defer { lock.unlock() }
        if let shared { return shared }
        if finalizedOnce { throw CommunicatorError.finalized(operation: "MPICommunicator.initialize") }
        var alreadyInitialized: Int32 = 0
        try check(MPI_Initialized(&alreadyInitialized), "MPI_Initialized")
        var provided: Int32 = 0
        if alreadyInitialized == 0 {
            // Ask for SERIALIZED (callers never overlap calls) but accept FUNNELED.
            try check(MPI_Init_thread(nil, nil, cmpi_thread_serialized(), &provided), "MPI_Init_thread")
        } else {
            try check(MPI_Query_thread(&provided), "MPI_Query_thread")
        }
        guard provided >= cmpi_thread_funneled() else {
            throw CommunicatorError.threadSupportTooLow(required: cmpi_thread_funneled(), provided: provided)
        }
        let world = cmpi_comm_world()!
        try check(MPI_Comm_set_errhandler(world, cmpi_errors_return()), "MPI_Comm_set_errhandler")
        var rank: Int32 = 0, size: Int32 = 0
        try check(MPI_Comm_rank(world, &rank), "MPI_Comm_rank")
        try check(MPI_Comm_size(world, &size), "MPI_Comm_size")
        var host: MPI_Comm? = nil, hostSize: Int32 = 0
        try check(MPI_Comm_split_type(world, cmpi_comm_type_shared(), rank, cmpi_info_null(), &host), "MPI_Comm_split_type")
        try check(MPI_Comm_size(host, &hostSize), "MPI_Comm_size")
        try check(MPI_Comm_free(&host), "MPI_Comm_free")
        let communicator = MPICommunicator(rank: Int(rank), size: Int(size), ranksOnThisHost: Int(hostSize), world: world,
                                           anyThreadAllowed: provided >= cmpi_thread_serialized())
        shared = communicator
        return communicator
    }

    private init(rank: Int, size: Int, ranksOnThisHost: Int, world: MPI_Comm, anyThreadAllowed: Bool) {
        self.rank = rank
        self.size = size
        self.ranksOnThisHost = ranksOnThisHost
        self.world = world
        self.anyThreadAllowed = anyThreadAllowed
        initThread = pthread_self()
    }

    /// MPI_Finalize (once; later calls do nothing). Every rank must call it before exiting normally.
    public func finalize() {
        Self.lock.lock()
        defer { Self.lock.unlock() }
        guard !isFinalized else { return }
        isFinalized = true
        Self.finalizedOnce = true
        var done: Int32 = 0
        MPI_Finalized(&done)
        if done == 0 { MPI_Finalize() }
    }

    /// MPI_Abort on MPI_COMM_WORLD: mpirun kills every rank and exits non-zero.
    public func abort(code: Int32) -> Never {
        fflush(stdout)
        fflush(stderr)
        MPI_Abort(world, code)
        exit(code)  // MPI_Abort does not return; this only satisfies Never if it somehow did.
    }

    public func allGather(_ send: UnsafeBufferPointer<Float>, into receive: UnsafeMutableBufferPointer<Float>) throws {
        try ready("allGather")
        try CollectiveChecks.allGather(sendCount: send.count, receiveCount: receive.count, size: size)
        let count = try MPICount.checked(send.count, "MPI_Allgather send count")
        var dummy: Float = 0
        try withUnsafeMutablePointer(to: &dummy) { dummy in
            try Self.check(MPI_Allgather(send.baseAddress ?? UnsafePointer(dummy), count, cmpi_float(),
                                         receive.baseAddress ?? dummy, count, cmpi_float(), world), "MPI_Allgather")
        }
    }

    public func allGatherV(_ send: UnsafeBufferPointer<Float>, counts: [Int], into receive: UnsafeMutableBufferPointer<Float>) throws {
        try ready("allGatherV")
        try CollectiveChecks.allGatherV(sendCount: send.count, counts: counts, receiveCount: receive.count, rank: rank, size: size)
        let (counts32, displacements) = try MPICount.packed(counts, "MPI_Allgatherv")
        var dummy: Float = 0
        try withUnsafeMutablePointer(to: &dummy) { dummy in
            try Self.check(MPI_Allgatherv(send.baseAddress ?? UnsafePointer(dummy), Int32(send.count), cmpi_float(),
                                          receive.baseAddress ?? dummy, counts32, displacements, cmpi_float(), world),
                           "MPI_Allgatherv")
        }
    }

    public func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int) throws {
        try ready("broadcast")
        try CollectiveChecks.root(root, size: size)
        guard let base = buffer.baseAddress, buffer.count > 0 else { return }
        // Every rank passes the same size, so every rank cuts the same pieces.
        let piece = 1 << 30
        var offset = 0
        while offset < buffer.count {
            let n = min(piece, buffer.count - offset)
            try Self.check(MPI_Bcast(base + offset, Int32(n), cmpi_byte(), Int32(root), world), "MPI_Bcast")
            offset += n
        }
    }

    public func broadcastBytes(_ message: [UInt8]?, root: Int) throws -> [UInt8] {
        try ready("broadcastBytes")
        try CollectiveChecks.root(root, size: size)
        try CollectiveChecks.rootMessage(message, rank: rank, root: root)
        var length = Int64(rank == root ? message!.count : 0)
        try withUnsafeMutableBytes(of: &length) { try broadcast($0, root: root) }
        var bytes = rank == root ? message! : [UInt8](repeating: 0, count: Int(length))
        try bytes.withUnsafeMutableBytes { try broadcast($0, root: root) }
        return bytes
    }

    /// The length goes by MPI_Ibcast polled with MPI_Test and a short sleep, so an idle follower
    /// costs ~nothing while it waits; the payload then goes by the plain broadcast.
    public func broadcastBytesWhenIdle(_ message: [UInt8]?, root: Int) throws -> [UInt8] {
        try ready("broadcastBytesWhenIdle")
        try CollectiveChecks.root(root, size: size)
        try CollectiveChecks.rootMessage(message, rank: rank, root: root)
        var length = Int64(rank == root ? message!.count : 0)
        var request: MPI_Request?
        try withUnsafeMutableBytes(of: &length) { raw in
            try Self.check(MPI_Ibcast(raw.baseAddress, 8, cmpi_byte(), Int32(root), world, &request), "MPI_Ibcast")
            var done: Int32 = 0
            var pause = timespec(tv_sec: 0, tv_nsec: 50_000)
            while done == 0 {
                try Self.check(MPI_Test(&request, &done, cmpi_status_ignore()), "MPI_Test")
                if done == 0 {
                    nanosleep(&pause, nil)
                    pause.tv_nsec = min(pause.tv_nsec * 2, 2_000_000)   // back off to 2 ms while idle
                }
            }
        }
        var bytes = rank == root ? message! : [UInt8](repeating: 0, count: Int(length))
        try bytes.withUnsafeMutableBytes { try broadcast($0, root: root) }
        return bytes
    }

    public func gatherBytes(_ message: [UInt8], root: Int) throws -> [[UInt8]] {
        try ready("gatherBytes")
        try CollectiveChecks.root(root, size: size)
        // All ranks learn every length, so all agree on an overflow before the Gatherv.
        var lengths = [Int64](repeating: 0, count: size)
        var mine = Int64(message.count)
        try Self.check(MPI_Allgather(&mine, 1, cmpi_int64(), &lengths, 1, cmpi_int64(), world), "MPI_Allgather (lengths)")
        let (counts, displacements) = try MPICount.packed(lengths.map { Int($0) }, "MPI_Gatherv")
        let total = Int(displacements[size - 1] + counts[size - 1])
        var packed = [UInt8](repeating: 0, count: rank == root ? max(total, 1) : 1)
        var send = message.isEmpty ? [0] : message
        try send.withUnsafeMutableBytes { sendBytes in
            try packed.withUnsafeMutableBytes { receiveBytes in
                try Self.check(MPI_Gatherv(sendBytes.baseAddress, Int32(message.count), cmpi_byte(),
                                           receiveBytes.baseAddress, counts, displacements, cmpi_byte(), Int32(root), world),
                               "MPI_Gatherv")
            }
        }
        guard rank == root else { return [] }
        return (0..<size).map { r in Array(packed[Int(displacements[r])..<Int(displacements[r] + counts[r])]) }
    }

    public func allReduceMax(_ value: Double) throws -> Double {
        try ready("allReduceMax")
        var send = value, result = 0.0
        try Self.check(MPI_Allreduce(&send, &result, 1, cmpi_double(), cmpi_op_max(), world), "MPI_Allreduce")
        return result
    }

    public func barrier() throws {
        try ready("barrier")
        try Self.check(MPI_Barrier(world), "MPI_Barrier")
    }

    private func ready(_ operation: String) throws {
        if isFinalized { throw CommunicatorError.finalized(operation: operation) }
        if !anyThreadAllowed, pthread_equal(pthread_self(), initThread) == 0 {
            throw CommunicatorError.wrongThread(operation: operation)
        }
    }

    private static func check(_ code: Int32, _ call: String) throws {
        guard code != cmpi_success() else { return }
        throw CommunicatorError.mpiCallFailed(call: call, code: code, message: errorString(code))
    }

    private static func errorString(_ code: Int32) -> String {
        var text = [CChar](repeating: 0, count: Int(cmpi_max_error_string()) + 1)
        var length: Int32 = 0
        guard MPI_Error_string(code, &text, &length) == cmpi_success() else { return "unknown MPI error" }
        return String(decoding: text.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// MPI counts and displacements are Int32: convert, or throw rather than truncate.
enum MPICount {
    static func checked(_ count: Int, _ operation: String) throws -> Int32 {
        guard count >= 0, count <= Int(Int32.max) else { throw CommunicatorError.countOverflow(operation: operation, count: count) }
        return Int32(count)
    }

    /// Per-rank counts and their rank-major displacements; the packed total must fit Int32 too.
    static func packed(_ counts: [Int], _ operation: String) throws -> (counts: [Int32], displacements: [Int32]) {
        var displacements: [Int32] = [], offset = 0
        for count in counts {
            displacements.append(try checked(offset, "\(operation) displacement"))
            offset += count
        }
        _ = try checked(offset, "\(operation) total count")
        return (try counts.map { try checked($0, "\(operation) count") }, displacements)
    }
}
