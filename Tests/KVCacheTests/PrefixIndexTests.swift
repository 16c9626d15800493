import XCTest
@testable import KVCache

/// Shared pages (reference counts, read-only shared rows) and the prefix index over them.
final class PrefixIndexTests: XCTestCase {
    func tokens(_ n: Int, salt: Int32 = 0) -> [Int32] { (0..<Int32(n)).map { $0 * 7 + salt } }

    func testSharedPagesAreCountedAndReadOnly() throws {
        let cache = try PagedLatentCache(layers: 2, rowWidth: 3, pageSize: 4, pageCount: 6)
        let first = try cache.allocate(capacity: 10)                 // pages 0, 1, 2
        let rows = [Float](repeating: 1.5, count: 10 * 3)
        for l in 0..<2 { try cache.write(sequence: first, layer: l, start: 0, rows: rows, count: 10) }
        let kept = try cache.indexPages(of: first, first: 0, count: 2)
        XCTAssertEqual(kept, [0, 1])
        XCTAssertEqual(cache.referenceCount(ofPage: 0), 2)
        XCTAssertEqual(cache.indexOnlyPageCount, 0)
        cache.release(first)
        XCTAssertEqual(cache.freePageCount, 4, "the two indexed pages stay in use")
        XCTAssertEqual(cache.indexOnlyPageCount, 2)
        XCTAssertEqual(cache.referenceCount(ofPage: 2), 0)

        let second = try cache.allocate(capacity: 13, sharing: kept)  // 2 shared + 2 fresh
        XCTAssertEqual(cache.freePageCount, 2)
        XCTAssertEqual(cache.indexOnlyPageCount, 0, "shared pages are in use")
        XCTAssertEqual(try cache.pageTable(of: second).prefix(2), [0, 1])
        XCTAssertEqual(try cache.length(of: second), 8, "the shared rows are there from the start")
        var out = [Float](repeating: 0, count: 8 * 3)
        try cache.read(sequence: second, layer: 1, start: 0, count: 8, into: &out)
        XCTAssertEqual(out, [Float](repeating: 1.5, count: 24))
        XCTAssertThrowsError(try cache.write(sequence: second, layer: 0, start: 7, rows: rows, count: 2)) {
            XCTAssertEqual($0 as? KVCacheError, .sharedRows(sequence: second, position: 7, sharedTokens: 8))
        }
        try cache.write(sequence: second, layer: 0, start: 8, rows: rows, count: 5)

        XCTAssertThrowsError(try cache.allocate(capacity: 4, sharing: [0, 1]), "two shared pages exceed one page of capacity")
        XCTAssertThrowsError(try cache.allocate(capacity: 8, sharing: [5]), "a free page cannot be shared")
        XCTAssertThrowsError(try cache.allocate(capacity: 30, sharing: kept)) {   // 8 pages: 6 fresh needed, 2 free
            XCTAssertEqual($0 as? KVCacheError, .outOfPages(requestedTokens: 30, neededPages: 6, freePages: 2))
        }
        XCTAssertEqual(cache.referenceCount(ofPage: 0), 2, "a refused allocation retains nothing")

        cache.release(second)
        XCTAssertEqual(cache.indexOnlyPageCount, 2)
        cache.unindexPages(kept)
        XCTAssertEqual(cache.freePageCount, 6)
        XCTAssertEqual(cache.indexOnlyPageCount, 0)
    }

    func testMatchInsertAndEvict() throws {
        let cache = try PagedLatentCache(layers: 1, rowWidth: 2, pageSize: 4, pageCount: 8)
        let index = PrefixIndex(cache: cache)
        let a = tokens(10)                                            // 2 full pages + 2 tokens
        let seqA = try cache.allocate(capacity: a.count)
        XCTAssertEqual(index.match(a, maxPages: 9), [])
        let added = try index.insert(a, sequence: seqA)
        XCTAssertEqual(added.count, 2, "only full pages are indexed")
        XCTAssertEqual(index.pages(of: added), Array(try cache.pageTable(of: seqA).prefix(2)))
        cache.release(seqA)
        XCTAssertEqual(cache.freePageCount, 6)

        // The same first page, then different tokens: one page reused, the second is a new branch.
        let b = Array(a.prefix(4)) + tokens(9, salt: 1000)
        XCTAssertEqual(index.match(b, maxPages: 9), [added[0]])
        XCTAssertEqual(index.match(a, maxPages: 1), [added[0]], "maxPages caps the match")
        XCTAssertEqual(index.match(Array(a.prefix(7)), maxPages: 9), [added[0]], "a partial page never matches")
        XCTAssertEqual(index.match(tokens(12, salt: 1), maxPages: 9), [], "a different first page matches nothing")
        let seqB = try cache.allocate(capacity: b.count, sharing: index.pages(of: [added[0]]))
        let addedB = try index.insert(b, sequence: seqB)
        XCTAssertEqual(addedB.count, 2, "b's pages 2 and 3 are new; its first is a's")
        XCTAssertEqual(index.pageCount, 4)
        XCTAssertEqual(index.match(b, maxPages: 9), [added[0]] + addedB)

        // Evict until 5 pages are free: b still holds its pages, so only a's leaf (page 2) can go.
        XCTAssertEqual(cache.freePageCount, 4 - 1)
        XCTAssertEqual(index.evict(untilFree: 5), [added[1]])
        XCTAssertEqual(cache.freePageCount, 4)
        cache.release(seqB)
        // Now b's leaves go, least recently matched first, leaf before its parent.
        _ = index.match(b, maxPages: 2)                              // touches a's first page and b's second page
        let evicted = index.evict(untilFree: 8)
        XCTAssertEqual(evicted, [addedB[1], addedB[0], added[0]])
        XCTAssertEqual(index.pageCount, 0)
        XCTAssertEqual(cache.freePageCount, 8)
    }

    func testSaltedPromptsShareOnlyUnderTheirSalt() throws {
        let cache = try PagedLatentCache(layers: 1, rowWidth: 2, pageSize: 4, pageCount: 8)
        let index = PrefixIndex(cache: cache)
        let p = tokens(9)
        let seq = try cache.allocate(capacity: p.count)
        let salted = try index.insert(p, salt: "tenant-a", sequence: seq)
        XCTAssertEqual(salted.count, 2)
        XCTAssertEqual(index.match(p, salt: "tenant-a", maxPages: 9), salted)
        XCTAssertEqual(index.match(p, salt: "tenant-b", maxPages: 9), [], "another salt finds nothing")
        XCTAssertEqual(index.match(p, maxPages: 9), [], "no salt finds nothing")
        let other = try cache.allocate(capacity: p.count)
        XCTAssertEqual(try index.insert(p, sequence: other).count, 2, "unsalted, the same tokens are new entries")
        XCTAssertEqual(index.pageCount, 4)
        cache.release(seq)
        cache.release(other)
        index.removeAll()
        XCTAssertEqual(cache.freePageCount, 8)
    }

    func testReplayedEvictionsAndRemoveAll() throws {
        let cache = try PagedLatentCache(layers: 1, rowWidth: 2, pageSize: 2, pageCount: 8)
        let index = PrefixIndex(cache: cache)
        let seq = try cache.allocate(capacity: 6)
        let ids = try index.insert(tokens(6), sequence: seq)
        cache.release(seq)
        XCTAssertThrowsError(try index.evict(ids: [ids[0]])) { XCTAssertEqual($0 as? PrefixIndexError, .notALeaf(ids[0])) }
        XCTAssertThrowsError(try index.evict(ids: [999]))
        try index.evict(ids: [ids[2], ids[1]])
        XCTAssertEqual(index.match(tokens(6), maxPages: 3), [ids[0]])
        index.removeAll()
        XCTAssertEqual(index.pageCount, 0)
        XCTAssertEqual(cache.freePageCount, 8)
        // A later insert takes fresh ids: indexes that replay the same history name entries alike.
        let again = try cache.allocate(capacity: 2)
        XCTAssertEqual(try index.insert(tokens(2), sequence: again), [ids[2] + 1])
        cache.release(again)
    }
}
