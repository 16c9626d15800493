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
    /// Pages on demand: a sequence holds pages for `holding` tokens, grows page by page up to its
    /// capacity, never past it, adds nothing when pages are short, and gives back all it grew.
    func testHoldingFewerPagesAndGrowing() throws {
        let cache = try PagedLatentCache(layers: 2, rowWidth: 3, pageSize: 4, pageCount: 6)
        let a = try cache.allocate(capacity: 18, holding: 5)   // 2 of its 5 pages
        XCTAssertEqual(cache.freePageCount, 4)
        XCTAssertEqual(try cache.capacity(of: a), 8)
        XCTAssertEqual(try cache.limit(of: a), 18)
        let row = [Float](repeating: 1, count: 3)
        XCTAssertThrowsError(try cache.write(sequence: a, layer: 0, start: 8, rows: row, count: 1), "position 8 is past the pages held") {
            XCTAssertEqual($0 as? KVCacheError, .positionOutOfRange(sequence: a, position: 8, capacity: 8))
        }
        XCTAssertTrue(try cache.grow(a, toHold: 8), "already held")
        XCTAssertEqual(cache.freePageCount, 4)
        XCTAssertTrue(try cache.grow(a, toHold: 9))
        XCTAssertEqual(try cache.capacity(of: a), 12)
        try cache.write(sequence: a, layer: 0, start: 8, rows: row, count: 1)
        XCTAssertTrue(try cache.grow(a, toHold: 18))
        XCTAssertEqual(try cache.capacity(of: a), 18, "the capacity stops at the limit, not the page's end")
        XCTAssertEqual(try cache.pageTable(of: a).count, 5)
        XCTAssertThrowsError(try cache.grow(a, toHold: 19), "past the capacity allocated") {
            XCTAssertEqual($0 as? KVCacheError, .positionOutOfRange(sequence: a, position: 18, capacity: 18))
        }
        let b = try cache.allocate(capacity: 12, holding: 1)   // the last free page
        XCTAssertEqual(cache.freePageCount, 0)
        XCTAssertFalse(try cache.grow(b, toHold: 5), "no page free: nothing added")
        XCTAssertEqual(try cache.capacity(of: b), 4)
        XCTAssertThrowsError(try cache.allocate(capacity: 4, holding: 1)) {
            guard case .outOfPages = $0 as? KVCacheError else { return XCTFail("\($0)") }
        }
        XCTAssertThrowsError(try cache.allocate(capacity: 4, holding: 5), "holding more than the capacity")
        XCTAssertThrowsError(try cache.allocate(capacity: 4, holding: 0))
        cache.release(a)
        XCTAssertTrue(try cache.grow(b, toHold: 12))
        XCTAssertEqual(try cache.pageTable(of: b).count, 3)
        cache.release(b)
        XCTAssertEqual(cache.freePageCount, 6, "grown pages go back too")
        XCTAssertThrowsError(try cache.grow(b, toHold: 1)) { XCTAssertEqual($0 as? KVCacheError, .unknownSequence(b)) }
    }
}

/// A lock-protected counter for the concurrency test.
final class ManagedAtomicCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func increment() { lock.lock(); count += 1; lock.unlock() }
    var value: Int { lock.lock(); defer { lock.unlock() }; return count }
}
