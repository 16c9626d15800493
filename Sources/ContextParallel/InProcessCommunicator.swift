import Foundation

/// P ranks as threads of one process, for unit tests without mpirun. `run(body)` runs body(comm)
/// on P threads. If one rank throws (or returns while others still wait in a collective), the
/// collectives of the remaining ranks throw `CommunicatorError.peerFailed` instead of hanging.
public final class InProcessGroup {
    public let size: Int
    /// One communicator per rank (rank r at index r); valid for every `run` of this group.
    public let communicators: [Communicator]
    private let rendezvous: InProcessRendezvous
    private let runLock = NSLock()

    /// `timeoutSeconds` bounds any single wait in a collective (a deadlock guard for tests).
    public init(size: Int, timeoutSeconds: Double = 300) {
        precondition(size >= 1, CommunicatorError.invalidGroupSize(size).description)
        self.size = size
        let rendezvous = InProcessRendezvous(size: size, timeoutSeconds: timeoutSeconds)
        self.rendezvous = rendezvous
        communicators = (0..<size).map { InProcessCommunicator(rank: $0, rendezvous: rendezvous) }
    }

    /// Runs body on every rank; returns the per-rank values (index = rank) or rethrows the first
    /// rank's root-cause error (an error that is not a consequence `peerFailed`).
    public func run<T>(_ body: @escaping (Communicator) throws -> T) throws -> [T] {
        let results = runEach(body)
        let errors = results.compactMap { result -> Error? in
            if case let .failure(error) = result { return error } else { return nil }
        }
        if let first = errors.first {
            throw errors.first(where: { !Self.isConsequence($0) }) ?? first
        }
        return results.map { try! $0.get() }
    }

    /// Runs body on every rank and returns each rank's outcome (index = rank).
    public func runEach<T>(_ body: @escaping (Communicator) throws -> T) -> [Result<T, Error>] {
        runLock.lock()
        defer { runLock.unlock() }
        rendezvous.reset()
        let outcomes = OutcomeBox<T>(size: size)
        let done = DispatchGroup()
        for r in 0..<size {
            done.enter()
            let communicator = communicators[r], rendezvous = self.rendezvous
            let thread = Thread {
                defer { done.leave() }
                do {
                    let value = try body(communicator)
                    outcomes.set(r, .success(value))
                    rendezvous.markFinished(rank: r)
                } catch {
                    outcomes.set(r, .failure(error))
                    // Pass on the root cause, so every rank names the rank that failed first.
                    if case let CommunicatorError.peerFailed(rank, _, reason) = error {
                        rendezvous.poison(rank: rank, reason: reason)
                    } else {
                        rendezvous.poison(rank: r, reason: "\(error)")
                    }
                }
            }
            thread.stackSize = 16 << 20
            thread.start()
        }
        done.wait()
        return outcomes.values.map { $0! }
    }

    private static func isConsequence(_ error: Error) -> Bool {
        if case CommunicatorError.peerFailed = error { return true }
        return false
    }
}

/// Per-rank results written by the rank threads.
private final class OutcomeBox<T> {
    private let lock = NSLock()
    private(set) var values: [Result<T, Error>?]
    init(size: Int) { values = Array(repeating: nil, count: size) }
    func set(_ rank: Int, _ value: Result<T, Error>) {
        lock.lock(); values[rank] = value; lock.unlock()
    }
}

/// One rank of an `InProcessGroup`. Each collective: post this rank's slot, barrier, check that
/// every rank entered the same collective with agreeing arguments, copy, barrier (so no rank
/// reuses its send buffer or slot while another still reads it).
final class InProcessCommunicator: Communicator {
    let rank: Int
    let size: Int
    private let rendezvous: InProcessRendezvous

    init(rank: Int, rendezvous: InProcessRendezvous) {
        self.rank = rank
        self.size = rendezvous.size
        self.rendezvous = rendezvous
    }

    func allGather(_ send: UnsafeBufferPointer<Float>, into receive: UnsafeMutableBufferPointer<Float>) throws {
        let floatSize = MemoryLayout<Float>.stride
        var slot = InProcessSlot(operation: "allGather", count: send.count, pointer: UnsafeRawPointer(send.baseAddress))
        slot.localError = firstError { try CollectiveChecks.allGather(sendCount: send.count, receiveCount: receive.count, size: size) }
        try exchange(slot, agree: { $0.count == $1.count ? nil : "rank \($2) sends \($0.count) floats, rank \($3) \($1.count)" }) { slots in
            guard send.count > 0, let target = receive.baseAddress else { return }
            for r in 0..<size {
                UnsafeMutableRawPointer(target + r * send.count).copyMemory(from: slots[r].pointer!, byteCount: send.count * floatSize)
            }
        }
    }

    func allGatherV(_ send: UnsafeBufferPointer<Float>, counts: [Int], into receive: UnsafeMutableBufferPointer<Float>) throws {
        let floatSize = MemoryLayout<Float>.stride
        var slot = InProcessSlot(operation: "allGatherV", count: send.count, pointer: UnsafeRawPointer(send.baseAddress), counts: counts)
        slot.localError = firstError {
            try CollectiveChecks.allGatherV(sendCount: send.count, counts: counts, receiveCount: receive.count, rank: rank, size: size)
        }
        try exchange(slot, agree: { $0.counts == $1.counts ? nil : "rank \($2) passes counts \($0.counts), rank \($3) \($1.counts)" }) { slots in
            guard let target = receive.baseAddress else { return }
            var offset = 0
            for r in 0..<size {
                if counts[r] > 0 {
                    UnsafeMutableRawPointer(target + offset).copyMemory(from: slots[r].pointer!, byteCount: counts[r] * floatSize)
                }
                offset += counts[r]
            }
        }
    }

    func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int) throws {
        var slot = InProcessSlot(operation: "broadcast", root: root, count: buffer.count, pointer: UnsafeRawPointer(buffer.baseAddress))
        slot.localError = firstError { try CollectiveChecks.root(root, size: size) }
        try exchange(slot, agree: { a, b, ra, rb in
            if a.root != b.root { return "rank \(ra) uses root \(a.root), rank \(rb) root \(b.root)" }
            return a.count == b.count ? nil : "rank \(ra) passes \(a.count) bytes, rank \(rb) \(b.count)"
        }) { slots in
            guard rank != root, buffer.count > 0 else { return }
            buffer.baseAddress!.copyMemory(from: slots[root].pointer!, byteCount: buffer.count)
        }
    }

    func broadcastBytes(_ message: [UInt8]?, root: Int) throws -> [UInt8] {
        var slot = InProcessSlot(operation: "broadcastBytes", root: root, bytes: rank == root ? message ?? [] : [])
        slot.localError = firstError {
            try CollectiveChecks.root(root, size: size)
            try CollectiveChecks.rootMessage(message, rank: rank, root: root)
        }
        var received: [UInt8] = []
        try exchange(slot, agree: sameRoot) { slots in received = slots[root].bytes }
        return received
    }

    func gatherBytes(_ message: [UInt8], root: Int) throws -> [[UInt8]] {
        var slot = InProcessSlot(operation: "gatherBytes", root: root, bytes: message)
        slot.localError = firstError { try CollectiveChecks.root(root, size: size) }
        var gathered: [[UInt8]] = []
        try exchange(slot, agree: sameRoot) { slots in
            if rank == root { gathered = (0..<size).map { slots[$0].bytes } }
        }
        return gathered
    }

    func allReduceMax(_ value: Double) throws -> Double {
        var result = value
        try exchange(InProcessSlot(operation: "allReduceMax", value: value), agree: { _, _, _, _ in nil }) { slots in
            result = (0..<size).map { slots[$0].value }.max()!
        }
        return result
    }

    func barrier() throws {
        try exchange(InProcessSlot(operation: "barrier"), agree: { _, _, _, _ in nil }) { _ in }
    }

    private func sameRoot(_ a: InProcessSlot, _ b: InProcessSlot, _ ra: Int, _ rb: Int) -> String? {
        a.root == b.root ? nil : "rank \(ra) uses root \(a.root), rank \(rb) root \(b.root)"
    }

    private func firstError(_ check: () throws -> Void) -> Error? {
        do { try check(); return nil } catch { return error }
    }

    /// agree(slot0, slotR, 0, r) returns a disagreement description or nil. Every rank sees the
    /// same slots, so every rank finds the same problem (or none): all throw together, after the
    /// second barrier, so no rank races ahead into the next collective's slots.
    private func exchange(_ slot: InProcessSlot,
                          agree: (InProcessSlot, InProcessSlot, Int, Int) -> String?,
                          read: (UnsafeMutablePointer<InProcessSlot>) -> Void) throws {
        let operation = slot.operation
        rendezvous.slots[rank] = slot
        try rendezvous.await(rank: rank, operation: operation)
        let problem = self.problem(slot, agree: agree)
        if problem == nil { read(rendezvous.slots) }
        try rendezvous.await(rank: rank, operation: operation)
        if let problem { throw problem }
    }

    private func problem(_ slot: InProcessSlot, agree: (InProcessSlot, InProcessSlot, Int, Int) -> String?) -> Error? {
        let slots = rendezvous.slots, operation = slot.operation
        if let r = (0..<size).first(where: { slots[$0].operation != operation }) {
            return CommunicatorError.collectiveMismatch(
                operation: operation, detail: "rank \(rank) entered \(operation) while rank \(r) entered \(slots[r].operation)")
        }
        if let own = slot.localError { return own }
        if let bad = (0..<size).first(where: { slots[$0].localError != nil }) {
            return CommunicatorError.peerFailed(rank: bad, operation: operation, reason: "\(slots[bad].localError!)")
        }
        for r in 1..<size {
            if let detail = agree(slots[0], slots[r], 0, r) {
                return CommunicatorError.collectiveMismatch(operation: operation, detail: detail)
            }
        }
        return nil
    }
}
