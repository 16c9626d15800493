import XCTest
@testable import KVCache

/// Page allocation: accounting, reuse, all-or-nothing failure, contiguity preference.
final class AllocationTests: XCTestCase {
    func testAllocateReleaseAndReuse() throws {
        let cache = try PagedLatentCache(layers: 2, rowWidth: 3, pageSize: 4, pageCount: 8)
        XCTAssertEqual(cache.freePageCount, 8)
        let first = try cache.allocate(capacity: 10)  // 3 pages
        let second = try cache.allocate(capacity: 20) // 5 pages
        XCTAssertNotEqual(first, second)
        XCTAssertEqual(cache.freePageCount, 0)
        XCTAssertEqual(cache.activeSequenceCount, 2)
        XCTAssertEqual(try cache.capacity(of: first), 10)
        XCTAssertEqual(try cache.pageTable(of: first), [0, 1, 2])
        XCTAssertEqual(try cache.pageTable(of: second), [3, 4, 5, 6, 7])

        XCTAssertTrue(cache.release(first))
        XCTAssertFalse(cache.release(first), "second release of the same id must be a no-op")
        XCTAssertFalse(cache.release(12345))
        XCTAssertFalse(cache.release(-1))
        XCTAssertEqual(cache.freePageCount, 3)
        XCTAssertEqual(cache.activeSequenceCount, 1)
        XCTAssertThrowsError(try cache.length(of: first)) {
            XCTAssertEqual($0 as? KVCacheError, .unknownSequence(first))
        }

        let third = try cache.allocate(capacity: 12)  // reuses the 3 freed pages
        XCTAssertNotEqual(third, first, "ids are never reused")
        XCTAssertNotEqual(third, second)
        XCTAssertEqual(try cache.pageTable(of: third), [0, 1, 2])
        XCTAssertEqual(try cache.length(of: third), 0)
        XCTAssertEqual(cache.freePageCount, 0)

        cache.release(second)
        cache.release(third)
        XCTAssertEqual(cache.freePageCount, 8)
        XCTAssertEqual(cache.activeSequenceCount, 0)
    }

    func testOutOfPagesLeavesStateUnchanged() throws {
        let cache = try PagedLatentCache(layers: 1, rowWidth: 2, pageSize: 16, pageCount: 4)
        let live = try cache.allocate(capacity: 33)  // 3 pages
        try cache.setLength(5, of: live)
        let tableBefore = try cache.pageTable(of: live)

        XCTAssertThrowsError(try cache.allocate(capacity: 17)) { error in
            XCTAssertEqual(error as? KVCacheError, .outOfPages(requestedTokens: 17, neededPages: 2, freePages: 1))
            XCTAssertEqual("\(error)", "KV cache full: need 2 pages for 17 tokens, 1 free")
        }
        XCTAssertEqual(cache.freePageCount, 1)
        XCTAssertEqual(cache.activeSequenceCount, 1)
        XCTAssertEqual(try cache.pageTable(of: live), tableBefore)
        XCTAssertEqual(try cache.length(of: live), 5)
        // The remaining page is still usable after the failure.
        let small = try cache.allocate(capacity: 16)
        XCTAssertEqual(try cache.pageTable(of: small), [3])
        XCTAssertEqual(cache.freePageCount, 0)
    }

    func testPagesNeededAndSizes() throws {
        let cache = try PagedLatentCache(layers: 3, rowWidth: 576, pageSize: 16, pageCount: 2)
        XCTAssertEqual(cache.pagesNeeded(forTokens: 1), 1)
        XCTAssertEqual(cache.pagesNeeded(forTokens: 16), 1)
        XCTAssertEqual(cache.pagesNeeded(forTokens: 17), 2)
        XCTAssertEqual(cache.bytesPerToken, 3 * 576 * 4)
        XCTAssertEqual(cache.bytesPerPage, 16 * 576 * 4)
    }

    func testBestFitKeepsLongRunsAndFallsBackToFewestRuns() throws {
        // 10 pages of 1 token each: make holes of length 1 (page 1) and 3 (pages 5...7).
        let cache = try PagedLatentCache(layers: 1, rowWidth: 1, pageSize: 1, pageCount: 10)
        let ids = try (0..<10).map { _ in try cache.allocate(capacity: 1) }
        for page in [1, 5, 6, 7] { cache.release(ids[page]) }

        let one = try cache.allocate(capacity: 1)
        XCTAssertEqual(try cache.pageTable(of: one), [1], "a 1-page request takes the 1-page hole, not the 3-page run")
        let three = try cache.allocate(capacity: 3)
        XCTAssertEqual(try cache.pageTable(of: three), [5, 6, 7], "a request that fits one run gets it whole")

        // Holes of lengths 1 (page 0), 2 (pages 3, 4) and 1 (page 9): a 4-page request takes the longest run first.
        for page in [0, 3, 4, 9] { cache.release(ids[page]) }
        let four = try cache.allocate(capacity: 4)
        XCTAssertEqual(try cache.pageTable(of: four), [3, 4, 0, 9])
        XCTAssertEqual(cache.freePageCount, 0)
    }

    func testInvalidArgumentsAndConfigurations() throws {
        for (layers, width, size, count) in [(0, 1, 1, 1), (1, 0, 1, 1), (1, 1, 0, 1), (1, 1, 1, 0), (1, 1, 1, -3)] {
            XCTAssertThrowsError(try PagedLatentCache(layers: layers, rowWidth: width, pageSize: size, pageCount: count)) {
                guard case .invalidConfiguration = $0 as? KVCacheError else { return XCTFail("got \($0)") }
            }
        }
        XCTAssertThrowsError(try PagedLatentCache(layers: 1, rowWidth: Int.max / 2, pageSize: 4, pageCount: 1)) {
            guard case .invalidConfiguration = $0 as? KVCacheError else { return XCTFail("got \($0)") }
        }
        let cache = try PagedLatentCache(layers: 1, rowWidth: 1, pageSize: 4, pageCount: 2)
        XCTAssertThrowsError(try cache.allocate(capacity: 0)) {
            guard case .invalidArgument = $0 as? KVCacheError else { return XCTFail("got \($0)") }
        }
        XCTAssertThrowsError(try cache.allocate(capacity: Int.max)) {
            XCTAssertEqual($0 as? KVCacheError,
                           .outOfPages(requestedTokens: Int.max, neededPages: Int.max / 4 + 1, freePages: 2))
        }
        XCTAssertEqual(cache.freePageCount, 2)
    }

    func testConcurrentAllocateReleaseWhileDecodeThreadWrites() throws {
        let cache = try PagedLatentCache(layers: 2, rowWidth: 8, pageSize: 4, pageCount: 64)
        let owned = try cache.allocate(capacity: 32)
        let ownedTable = try cache.pageTable(of: owned)
        let threads = 3, rounds = 300
        let failures = ManagedAtomicCounter()
        DispatchQueue.concurrentPerform(iterations: threads + 1) { worker in
            if worker == threads {
                // The "decode thread": writes and verifies its own sequence without any lock.
                var row = [Float](repeating: 0, count: 8)
                var back = [Float](repeating: 0, count: 8)
                for round in 0..<rounds {
                    let position = round % 32
                    for i in 0..<8 { row[i] = Float(round * 8 + i) }
                    do {
                        try cache.write(sequence: owned, layer: round % 2, start: position, rows: row, count: 1)
                        try cache.read(sequence: owned, layer: round % 2, start: position, count: 1, into: &back)
                        if back != row { failures.increment() }
                    } catch { failures.increment() }
                }
                return
            }
            for round in 0..<rounds {
                do {
                    let id = try cache.allocate(capacity: 1 + (round + worker) % 9)
                    if !cache.release(id) { failures.increment() }
                } catch KVCacheError.outOfPages {
                    continue  // other workers hold pages right now: allowed
                } catch { failures.increment() }
            }
        }
        XCTAssertEqual(failures.value, 0)
        XCTAssertEqual(cache.activeSequenceCount, 1)
        XCTAssertEqual(cache.freePageCount, 64 - 8)
        XCTAssertEqual(try cache.pageTable(of: owned), ownedTable)
    }
}

/// A lock-protected counter for the concurrency test.
final class ManagedAtomicCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func increment() { lock.lock(); count += 1; lock.unlock() }
    var value: Int { lock.lock(); defer { lock.unlock() }; return count }
}
