/// Why a collective failed. Every description is one line: what was wrong, expected vs found.
public enum CommunicatorError: Error, CustomStringConvertible {
    /// An MPI call returned an error code (with MPI_Error_string's text).
    case mpiCallFailed(call: String, code: Int32, message: String)
    /// Buffer sizes or per-rank arguments disagree (free text names the operation and the sizes).
    case sizeMismatch(String)
    /// A count does not fit MPI's Int32 count/displacement arguments.
    case countOverflow(operation: String, count: Int)
    /// Ranks entered different collectives, or the same one with different roots/sizes.
    case collectiveMismatch(operation: String, detail: String)
    /// Another rank failed (threw, returned early, or skipped this collective): this one gives up instead of hanging.
    case peerFailed(rank: Int, operation: String, reason: String)
    /// A root outside 0..<size.
    case invalidRoot(root: Int, size: Int)
    /// MPI granted less thread support than the communicator needs.
    case threadSupportTooLow(required: Int32, provided: Int32)
    /// A collective was called from a thread other than the one that initialised MPI (FUNNELED).
    case wrongThread(operation: String)
    /// MPI was finalised already; it cannot be initialised again in this process.
    case finalized(operation: String)
    /// A group of fewer than one rank.
    case invalidGroupSize(Int)
    /// An in-process collective waited longer than the group's deadlock timeout.
    case timedOut(operation: String, rank: Int, seconds: Double)

    public var description: String {
        switch self {
        case let .mpiCallFailed(call, code, message):
            return "\(call) failed with MPI error \(code): \(message)"
        case let .sizeMismatch(detail):
            return "size mismatch: \(detail)"
        case let .countOverflow(operation, count):
            return "\(operation): count \(count) exceeds MPI's Int32 limit \(Int32.max)"
        case let .collectiveMismatch(operation, detail):
            return "ranks disagree on collective \(operation): \(detail)"
        case let .peerFailed(rank, operation, reason):
            return "\(operation) abandoned: rank \(rank) failed (\(reason))"
        case let .invalidRoot(root, size):
            return "root \(root) is not a rank of a communicator of size \(size) (expected 0..<\(size))"
        case let .threadSupportTooLow(required, provided):
            return "MPI thread support too low: required level \(required), provided \(provided)"
        case let .wrongThread(operation):
            return "\(operation) called off the thread that initialised MPI (MPI_THREAD_FUNNELED)"
        case let .finalized(operation):
            return "\(operation) after MPI_Finalize: MPI cannot be used again in this process"
        case let .invalidGroupSize(size):
            return "communicator group size \(size) is invalid (expected ≥ 1)"
        case let .timedOut(operation, rank, seconds):
            return "rank \(rank) waited \(seconds) s in \(operation) without every rank arriving (skipped collective?)"
        }
    }
}

/// Collectives used by PCP. Every rank must call every collective in the same order (a rank that
/// skips one hangs the job). Calls on one communicator are not concurrent.
public protocol Communicator: AnyObject {
    var rank: Int { get }
    var size: Int { get }
    /// Ranks of this communicator running on this host (they can share a file's page cache).
    var ranksOnThisHost: Int { get }
    /// Each rank contributes `send.count` floats; `receive` (count = size * send.count) gets them rank-major.
    func allGather(_ send: UnsafeBufferPointer<Float>, into receive: UnsafeMutableBufferPointer<Float>) throws
    /// Variable counts per rank (counts[r] floats from rank r), receive is rank-major packed.
    func allGatherV(_ send: UnsafeBufferPointer<Float>, counts: [Int], into receive: UnsafeMutableBufferPointer<Float>) throws
    /// Root's bytes to every rank; all ranks pass a buffer of the same size.
    func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int) throws
    /// Broadcast of a variable-size byte message: root passes the message, others pass nil and receive it.
    func broadcastBytes(_ message: [UInt8]?, root: Int) throws -> [UInt8]
    /// Gathers each rank's bytes at root (others get []), for reporting errors/stats to rank 0.
    func gatherBytes(_ message: [UInt8], root: Int) throws -> [[UInt8]]
    /// The maximum of every rank's value, on every rank.
    func allReduceMax(_ value: Double) throws -> Double
    func barrier() throws
    /// broadcastBytes for a rank that may wait a long time (a daemon's idle followers): it
    /// sleeps between polls instead of spinning a core in the MPI progress loop.
    func broadcastBytesWhenIdle(_ message: [UInt8]?, root: Int) throws -> [UInt8]
}

extension Communicator {
    /// Every rank of an in-process or single-rank communicator shares this host.
    public var ranksOnThisHost: Int { size }

    public func broadcastBytesWhenIdle(_ message: [UInt8]?, root: Int) throws -> [UInt8] {
        try broadcastBytes(message, root: root)
    }
}

/// Argument checks shared by every implementation, so all of them reject the same calls.
enum CollectiveChecks {
    static func allGather(sendCount: Int, receiveCount: Int, size: Int) throws {
        guard receiveCount == size * sendCount else {
            throw CommunicatorError.sizeMismatch(
                "allGather receive holds \(receiveCount) floats, expected size \(size) × send \(sendCount) = \(size * sendCount)")
        }
    }

    static func allGatherV(sendCount: Int, counts: [Int], receiveCount: Int, rank: Int, size: Int) throws {
        guard counts.count == size else {
            throw CommunicatorError.sizeMismatch("allGatherV got \(counts.count) counts, expected one per rank (\(size))")
        }
        if let negative = counts.first(where: { $0 < 0 }) {
            throw CommunicatorError.sizeMismatch("allGatherV count \(negative) is negative")
        }
        guard counts[rank] == sendCount else {
            throw CommunicatorError.sizeMismatch("allGatherV rank \(rank) sends \(sendCount) floats but counts[\(rank)] = \(counts[rank])")
        }
        let total = counts.reduce(0, +)
        guard receiveCount == total else {
            throw CommunicatorError.sizeMismatch("allGatherV receive holds \(receiveCount) floats, expected Σ counts = \(total)")
        }
    }

    static func root(_ root: Int, size: Int) throws {
        guard (0..<size).contains(root) else { throw CommunicatorError.invalidRoot(root: root, size: size) }
    }

    static func rootMessage(_ message: [UInt8]?, rank: Int, root: Int) throws {
        if rank == root, message == nil {
            throw CommunicatorError.sizeMismatch("broadcastBytes root \(root) passed nil, expected the message to send")
        }
    }
}
