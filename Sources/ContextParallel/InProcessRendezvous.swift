import Foundation

/// What one rank posts for a collective of an in-process group: its arguments (checked for
/// agreement across ranks) and where its data lives until the collective's second barrier.
struct InProcessSlot {
    var operation = ""
    var root = 0
    var count = 0                       // floats (gathers) or bytes (broadcast) this rank sends
    var pointer: UnsafeRawPointer?      // send buffer (or root's broadcast buffer)
    var counts: [Int] = []              // allGatherV's per-rank counts
    var bytes: [UInt8] = []             // broadcastBytes / gatherBytes payload
    var value = 0.0                     // allReduceMax
    var localError: Error?              // this rank's own arguments were invalid
}

/// Shared state of an in-process group: a generation-counted barrier with a poison flag, and one
/// slot per rank. A rank that throws (or returns while others still wait) poisons the barrier, so
/// every waiting or later collective throws `peerFailed` instead of hanging.
final class InProcessRendezvous {
    let size: Int
    let timeoutSeconds: Double
    let slots: UnsafeMutablePointer<InProcessSlot>   // [size]; rank r writes only slots[r]
    private let condition = NSCondition()
    private var generation = 0
    private var arrived = 0
    private var failure: (rank: Int, reason: String)?
    private var finishedRank: Int?

    init(size: Int, timeoutSeconds: Double) {
        self.size = size
        self.timeoutSeconds = timeoutSeconds
        slots = .allocate(capacity: size)
        slots.initialize(repeating: InProcessSlot(), count: size)
    }

    deinit {
        slots.deinitialize(count: size)
        slots.deallocate()
    }

    /// Clears poison and counters before a new `run`.
    func reset() {
        condition.lock()
        generation = 0; arrived = 0; failure = nil; finishedRank = nil
        condition.unlock()
        for r in 0..<size { slots[r] = InProcessSlot() }
    }

    /// Rank `rank` ended its body by throwing: wake everyone, all later waits fail.
    func poison(rank: Int, reason: String) {
        condition.lock()
        if failure == nil { failure = (rank, reason) }
        condition.broadcast()
        condition.unlock()
    }

    /// Rank `rank` returned normally: any rank still (or later) waiting can never be released.
    func markFinished(rank: Int) {
        condition.lock()
        if finishedRank == nil { finishedRank = rank }
        condition.broadcast()
        condition.unlock()
    }

    /// Blocks until all `size` ranks arrive, or throws when that can no longer happen.
    func await(rank: Int, operation: String) throws {
        condition.lock()
        defer { condition.unlock() }
        try checkAlive(operation: operation)
        let myGeneration = generation
        arrived += 1
        if arrived == size {
            arrived = 0
            generation += 1
            condition.broadcast()
            return
        }
        let deadline = Date(timeIntervalSinceNow: timeoutSeconds)
        while generation == myGeneration {
            try checkAlive(operation: operation)
            if !condition.wait(until: deadline), generation == myGeneration {
                if failure == nil { failure = (rank, "timed out in \(operation)") }
                condition.broadcast()
                throw CommunicatorError.timedOut(operation: operation, rank: rank, seconds: timeoutSeconds)
            }
        }
    }

    /// Called with the lock held.
    private func checkAlive(operation: String) throws {
        if let failure {
            throw CommunicatorError.peerFailed(rank: failure.rank, operation: operation, reason: failure.reason)
        }
        if let finishedRank {
            throw CommunicatorError.peerFailed(rank: finishedRank, operation: operation,
                                               reason: "it returned without entering \(operation)")
        }
    }
}
