@testable import DecodeService
import Foundation
import KVCache
import XCTest

/// Waiting for KV pages: FIFO, bounded in count and time, cancellable; never-fitting requests and
/// a full queue are refused at once.
final class PageAdmissionTests: XCTestCase {
    func makeAdmission(pages: Int = 4, queue: Int = 4, wait: Double = 10) throws -> PageAdmission {
        PageAdmission(cache: try PagedLatentCache(layers: 1, rowWidth: 4, pageSize: 16, pageCount: pages),
                      maxQueued: queue, maxWaitSeconds: wait)
    }

    func testWaitersGetPagesInArrivalOrderWhenTheyFree() throws {
        XCTAssertEqual(try servedOrder(of: [(0, false), (0, false), (0, false)]), [0, 1, 2], "first come, first served")
    }

    /// Priority scheduling: waiters by priority (lower first), then a resumed one before new ones of
    /// its priority, then arrival — whatever order they came in.
    func testWaitersGetPagesByPriorityThenResumedThenArrival() throws {
        // (priority, resumed) in arrival order; served: 1 (-2), 3 (0, resumed), 2 (0), 4 (0), 0 (5).
        XCTAssertEqual(try servedOrder(of: [(5, false), (-2, false), (0, false), (0, true), (0, false)]), [1, 3, 2, 4, 0])
    }

    /// The order in which waiters (priority, resumed), queued one after another behind a request
    /// holding the whole cache, get it once that request gives its pages back.
    private func servedOrder(of waiters: [(priority: Int32, resumed: Bool)]) throws -> [Int] {
        let admission = try makeAdmission(queue: 8)
        let first = try admission.reserve(capacity: 64, holding: 64, remaining: { nil }, isCancelled: { false })   // all 4 pages
        let served = ServedOrder()
        let group = DispatchGroup()
        for (i, w) in waiters.enumerated() {
            group.enter()
            Thread.detachNewThread {
                let s = try! admission.reserve(capacity: 64, holding: 64, resuming: w.resumed, priority: w.priority,
                                               remaining: { nil }, isCancelled: { false })
                served.append(i)
                usleep(20_000)
                admission.release(s)
                group.leave()
            }
            // Arrival order is the test's: each waiter is queued before the next starts.
            let deadline = Date(timeIntervalSinceNow: 5)
            while admission.waiting < i + 1 && Date() < deadline { usleep(1_000) }
        }
        XCTAssertEqual(admission.waiting, waiters.count)
        admission.release(first)
        XCTAssertEqual(group.wait(timeout: .now() + 20), .success)
        XCTAssertEqual(admission.cache.freePageCount, 4)
        return served.values
    }

    /// The running sequences' next pages stay free: a request waits while taking its pages would
    /// leave fewer than the batch asks (`pagesToLeave`) free, and takes them once the batch needs fewer.
    func testPagesAreTakenOnlyWithHeadroomLeft() throws {
        let kept = LockedCount(1)
        let admission = PageAdmission(cache: try PagedLatentCache(layers: 1, rowWidth: 4, pageSize: 16, pageCount: 4),
                                      maxQueued: 4, maxWaitSeconds: 10) { _ in kept.value }
        let running = try admission.reserve(capacity: 16, holding: 16, remaining: { nil }, isCancelled: { false })   // 3 pages free
        XCTAssertThrowsError(try admission.reserve(capacity: 48, holding: 48, remaining: { 0.3 }, isCancelled: { false })) {
            guard case PageAdmissionError.waitedTooLong(_, 3, 3, 1) = $0 else { return XCTFail("\($0)") }
            XCTAssertTrue("\($0)".contains("1 kept for the running sequences)"), "\($0)")
        }
        XCTAssertNotNil(try admission.reserve(capacity: 32, holding: 32, remaining: { 1 }, isCancelled: { false }), "2 of 3 free pages leave one")
        XCTAssertEqual(admission.cache.freePageCount, 1)
        admission.release(running)
        kept.value = 0
        XCTAssertNotNil(try admission.reserve(capacity: 32, holding: 32, remaining: { 1 }, isCancelled: { false }))
    }

    final class LockedCount: @unchecked Sendable {
        private let lock = NSLock()
        private var n: Int
        init(_ n: Int) { self.n = n }
        var value: Int { get { lock.withLock { n } } set { lock.withLock { n = newValue } } }
    }

    func testBoundsAreEnforced() throws {
        let admission = try makeAdmission(queue: 1, wait: 0.3)
        XCTAssertThrowsError(try admission.reserve(capacity: 65, holding: 65, remaining: { nil }, isCancelled: { false })) {
            guard case PageAdmissionError.neverFits = $0 else { return XCTFail("\($0)") }
        }
        let hog = try admission.reserve(capacity: 64, holding: 64, remaining: { nil }, isCancelled: { false })
        let start = Date()
        XCTAssertThrowsError(try admission.reserve(capacity: 16, holding: 16, remaining: { nil }, isCancelled: { false })) {
            guard case PageAdmissionError.waitedTooLong = $0 else { return XCTFail("\($0)") }
        }
        XCTAssertLessThan(Date().timeIntervalSince(start), 3, "gave up near --max-queue-seconds")
        // One waiter fills the queue (bound 1): the next is refused at once.
        let group = DispatchGroup(); group.enter()
        Thread.detachNewThread {
            do {
                _ = try admission.reserve(capacity: 16, holding: 16, remaining: { nil }, isCancelled: { false })
                XCTFail("the waiter should time out")
            } catch {}
            group.leave()
        }
        let deadline = Date(timeIntervalSinceNow: 5)
        while admission.waiting < 1 && Date() < deadline { usleep(1_000) }
        XCTAssertThrowsError(try admission.reserve(capacity: 16, holding: 16, remaining: { nil }, isCancelled: { false })) {
            guard case PageAdmissionError.queueFull = $0 else { return XCTFail("\($0)") }
        }
        XCTAssertEqual(group.wait(timeout: .now() + 10), .success)
        // The caller's deadline and cancellation end a wait too.
        XCTAssertThrowsError(try admission.reserve(capacity: 16, holding: 16, remaining: { 0 }, isCancelled: { false })) {
            guard case PageAdmissionError.waitedTooLong = $0 else { return XCTFail("\($0)") }
        }
        XCTAssertThrowsError(try admission.reserve(capacity: 16, holding: 16, remaining: { nil }, isCancelled: { true })) {
            guard case PageAdmissionError.cancelled = $0 else { return XCTFail("\($0)") }
        }
        admission.release(hog)
        XCTAssertEqual(admission.waiting, 0)
        XCTAssertEqual(admission.cache.freePageCount, 4)
    }

    /// A request is admitted holding what it holds now; one preempted for pages comes back at the
    /// head of the queue, past --max-queued-requests and --max-queue-seconds (it was admitted
    /// already), bounded by its own deadline only.
    func testResumedRequestsGoFirstPastTheBounds() throws {
        let admission = try makeAdmission(queue: 1, wait: 0.2)
        let small = try admission.reserve(capacity: 64, holding: 10, remaining: { nil }, isCancelled: { false })
        XCTAssertEqual(admission.cache.freePageCount, 3, "one page for 10 tokens, of a capacity of 4 pages")
        let hog = try admission.reserve(capacity: 48, holding: 48, remaining: { nil }, isCancelled: { false })
        let served = ServedOrder()
        let group = DispatchGroup()
        group.enter()
        Thread.detachNewThread {   // a new request: waits in the one queue place
            if let s = try? admission.reserve(capacity: 16, holding: 16, remaining: { nil }, isCancelled: { false }) {
                served.append(0); admission.release(s)
            }
            group.leave()
        }
        var deadline = Date(timeIntervalSinceNow: 5)
        while admission.waiting < 1 && Date() < deadline { usleep(1_000) }
        group.enter()
        Thread.detachNewThread {   // a preempted one: past the full queue, to its head
            if let s = try? admission.reserve(capacity: 64, holding: 20, resuming: true, remaining: { nil }, isCancelled: { false }) {
                served.append(1); admission.release(s)
            }
            group.leave()
        }
        deadline = Date(timeIntervalSinceNow: 5)
        while admission.waiting < 2 && Date() < deadline { usleep(1_000) }
        XCTAssertEqual(admission.waiting, 2, "the resumed request queued beside a full queue")
        usleep(400_000)   // past --max-queue-seconds: the new request gives up, the resumed one waits on
        XCTAssertEqual(admission.waiting, 1)
        admission.release(hog)
        XCTAssertEqual(group.wait(timeout: .now() + 10), .success)
        XCTAssertEqual(served.values, [1], "the resumed request got its pages; the new one had timed out")
        admission.release(small)
        XCTAssertEqual(admission.cache.freePageCount, 4)
    }
}

/// The order waiters were served in, appended from their threads.
final class ServedOrder: @unchecked Sendable {
    private let lock = NSLock()
    private var order: [Int] = []
    func append(_ i: Int) { lock.lock(); order.append(i); lock.unlock() }
    var values: [Int] { lock.lock(); defer { lock.unlock() }; return order }
}
