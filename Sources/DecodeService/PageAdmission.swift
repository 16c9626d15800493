import Foundation
import KVCache

/// Admission to the decode daemon's KV pages: a request that does not fit now waits in a FIFO
/// queue (at most `maxQueued` requests, each at most `maxWaitSeconds` and never past its own
/// deadline) and takes its pages when earlier requests give theirs back — vLLM's FCFS waiting
/// queue. A request is admitted with pages for what it holds now (its prompt and next token) and
/// the batcher adds pages as it lengthens; one preempted for pages comes back here `resuming`: at
/// the head of the queue, past the bounds (it was admitted already), waiting only on its deadline
/// — vLLM puts preempted requests first in its waiting queue. Beyond the bounds a new request is
/// refused at once with a typed reason; one whose capacity exceeds the whole cache is refused at once too.
/// Running sequences have the first claim on free pages: a request takes its pages only when
/// `pagesToLeave(priority)` pages stay free after it (`ContinuousBatcher.pagesToLeave`: one per
/// sequence in the batch, what its next step may need, and under priority scheduling all that the
/// more important ones still need) — vLLM admits from its waiting queue only what the running
/// requests leave. So a request preempted for pages does not take them straight back.
/// Under `--scheduling-policy priority` the queue is ordered by the request's priority first (lower
/// first, vLLM's rule), then resumed before new, then arrival; under fcfs every priority is 0.
final class PageAdmission: @unchecked Sendable {
    let cache: PagedLatentCache
    let maxQueued: Int
    let maxWaitSeconds: Double
    private let pagesToLeave: (Int32) -> Int
    private let condition = NSCondition()
    /// Waiting requests by (priority, resumed first, arrival); the head allocates first.
    private var queue: [(ticket: UInt64, priority: Int32, resumed: Bool)] = []
    private var nextTicket: UInt64 = 0

    init(cache: PagedLatentCache, maxQueued: Int, maxWaitSeconds: Double, pagesToLeave: @escaping (Int32) -> Int = { _ in 0 }) {
        self.cache = cache
        self.pagesToLeave = pagesToLeave
        self.maxQueued = max(0, maxQueued)
        self.maxWaitSeconds = max(0, maxWaitSeconds)
    }

    /// Requests waiting for pages now.
    var waiting: Int { condition.lock(); defer { condition.unlock() }; return queue.count }

    /// A cache sequence that may grow to `capacity` tokens, with pages for `holding` of them, waiting
    /// as above. `remaining` gives the caller's own time left (nil: no deadline); `isCancelled` ends
    /// the wait early.
    func reserve(capacity: Int, holding: Int, resuming: Bool = false, priority: Int32 = 0, remaining: () -> Double?,
                 isCancelled: () -> Bool) throws -> Int {
        let needed = cache.pagesNeeded(forTokens: capacity)
        guard needed <= cache.pageCount else {
            throw PageAdmissionError.neverFits(tokens: capacity, neededPages: needed, totalPages: cache.pageCount)
        }
        let held = min(holding, capacity)
        let heldPages = cache.pagesNeeded(forTokens: held)
        condition.lock()
        defer { condition.unlock() }
        let allocate = { [cache, pagesToLeave] () -> Int? in
            guard cache.freePageCount >= heldPages + pagesToLeave(priority) else { return nil }
            return try? cache.allocate(capacity: capacity, holding: held)
        }
        if queue.isEmpty, let sequence = allocate() { return sequence }
        guard resuming || queue.count < maxQueued else {
            throw PageAdmissionError.queueFull(waiting: queue.count, neededPages: heldPages, freePages: cache.freePageCount,
                                               keptPages: pagesToLeave(priority))
        }
        nextTicket += 1
        let ticket = nextTicket
        let goesBefore = { (w: (ticket: UInt64, priority: Int32, resumed: Bool)) in
            priority < w.priority || (priority == w.priority && resuming && !w.resumed)
        }
        queue.insert((ticket, priority, resuming), at: queue.firstIndex(where: goesBefore) ?? queue.count)
        defer {
            queue.removeAll { $0.ticket == ticket }
            condition.broadcast()          // the next in line may fit now
        }
        let start = Date()
        let maxWait = resuming ? Double.infinity : maxWaitSeconds
        while true {
            if queue.first?.ticket == ticket, let sequence = allocate() { return sequence }
            if isCancelled() { throw PageAdmissionError.cancelled }
            let waited = Date().timeIntervalSince(start)
            let left = min(maxWait - waited, remaining() ?? .infinity)
            guard left > 0 else {
                throw PageAdmissionError.waitedTooLong(seconds: waited, neededPages: heldPages, freePages: cache.freePageCount,
                                                       keptPages: pagesToLeave(priority))
            }
            // Woken by a release; the 0.1 s cap notices cancellation and deadlines.
            _ = condition.wait(until: Date(timeIntervalSinceNow: min(left, 0.1)))
        }
    }

    /// Gives a sequence's pages back and wakes the queue.
    func release(_ sequence: Int) {
        condition.lock()
        cache.release(sequence)
        condition.broadcast()
        condition.unlock()
    }
}

enum PageAdmissionError: Error, CustomStringConvertible {
    case neverFits(tokens: Int, neededPages: Int, totalPages: Int)
    case queueFull(waiting: Int, neededPages: Int, freePages: Int, keptPages: Int)
    case waitedTooLong(seconds: Double, neededPages: Int, freePages: Int, keptPages: Int)
    case cancelled

    var description: String {
        switch self {
        case let .neverFits(tokens, needed, total):
            return "KV cache full: \(tokens) tokens need \(needed) pages, the whole cache has \(total)"
        case let .queueFull(waiting, needed, free, kept):
            return "KV cache full: \(needed) pages needed, \(free) free (\(kept) kept for the running sequences), and \(waiting) requests already wait for pages (--max-queued-requests); retry later"
        case let .waitedTooLong(seconds, needed, free, kept):
            return String(format: "KV cache full: waited %.1f s for %d pages (%d free, %d kept for the running sequences); retry later",
                          seconds, needed, free, kept)
        case .cancelled:
            return "cancelled while waiting for KV pages"
        }
    }
}
