import Tensors
import XCTest
@testable import KVCache

/// Row access: write/read round trips, `row` pointers, `forEachRun` coverage, fragmentation, errors.
final class RowAccessTests: XCTestCase {
    /// A value unique to (sequence tag, layer, position, column), exact in Float.
    private func value(_ tag: Int, _ layer: Int, _ position: Int, _ column: Int) -> Float {
        Float(((tag * 8 + layer) * 1024 + position) * 16 + column)
    }

    private func fill(_ cache: PagedLatentCache, sequence: Int, tag: Int, count: Int) throws {
        for layer in 0..<cache.layers {
            let rows = (0..<count).flatMap { p in (0..<cache.rowWidth).map { value(tag, layer, p, $0) } }
            try cache.write(sequence: sequence, layer: layer, start: 0, rows: rows, count: count)
        }
    }

    private func verify(_ cache: PagedLatentCache, sequence: Int, tag: Int, count: Int,
                        file: StaticString = #filePath, line: UInt = #line) throws {
        for layer in 0..<cache.layers {
            var out = [Float](repeating: -1, count: count * cache.rowWidth)
            try cache.read(sequence: sequence, layer: layer, start: 0, count: count, into: &out)
            let expected = (0..<count).flatMap { p in (0..<cache.rowWidth).map { value(tag, layer, p, $0) } }
            XCTAssertEqual(out, expected, "sequence \(sequence) layer \(layer)", file: file, line: line)
        }
    }

    /// Checks that the runs tile start..<count in order and that every row pointer matches `row`.
    /// Returns the number of runs.
    @discardableResult
    private func checkRuns(_ cache: PagedLatentCache, sequence: Int, layer: Int, from start: Int = 0, count: Int,
                           file: StaticString = #filePath, line: UInt = #line) throws -> Int {
        var next = start
        var runs = 0
        var previousEnd: UnsafePointer<Float>?
        var failures = 0
        cache.forEachRun(sequence: sequence, layer: layer, from: start, count: count) { pointer, first, rows in
            runs += 1
            if first != next || rows < 1 { failures += 1 }
            if pointer == previousEnd { failures += 1 }  // adjacent memory must have been merged
            for i in 0..<rows {
                let expected = try? cache.row(sequence: sequence, layer: layer, position: first + i)
                if UnsafePointer(expected) != pointer + i * cache.rowWidth { failures += 1 }
            }
            next = first + rows
            previousEnd = pointer + rows * cache.rowWidth
        }
        XCTAssertEqual(next, count, "runs must end at count", file: file, line: line)
        XCTAssertEqual(failures, 0, "runs must be in order, maximal and match row()", file: file, line: line)
        return runs
    }

    func testWriteReadRoundTripAcrossPageBoundaries() throws {
        let cache = try PagedLatentCache(layers: 3, rowWidth: 5, pageSize: 4, pageCount: 6)
        let sequence = try cache.allocate(capacity: 13)  // 4 pages
        let rows = (2..<11).flatMap { p in (0..<5).map { value(1, 1, p, $0) } }  // positions 2...10: 3 pages
        try cache.write(sequence: sequence, layer: 1, start: 2, rows: rows, count: 9)

        var out = [Float](repeating: 0, count: 9 * 5)
        try cache.read(sequence: sequence, layer: 1, start: 2, count: 9, into: &out)
        XCTAssertEqual(out, rows)
        for position in 2..<11 {
            let pointer = try cache.row(sequence: sequence, layer: 1, position: position)
            XCTAssertEqual(Array(UnsafeBufferPointer(start: pointer, count: 5)), (0..<5).map { value(1, 1, position, $0) })
        }
        // Other layers and positions stay zero (fresh storage).
        var all = [Float](repeating: -1, count: 13 * 5)
        for layer in [0, 2] {
            try cache.read(sequence: sequence, layer: layer, start: 0, count: 13, into: &all)
            XCTAssertEqual(all, [Float](repeating: 0, count: 13 * 5))
        }
        try cache.read(sequence: sequence, layer: 1, start: 0, count: 13, into: &all)
        XCTAssertEqual(Array(all[0..<10]), [Float](repeating: 0, count: 10))
        XCTAssertEqual(Array(all[55..<65]), [Float](repeating: 0, count: 10))
        // A write through `row` is seen by `read`.
        try cache.row(sequence: sequence, layer: 2, position: 12)[4] = 42
        try cache.read(sequence: sequence, layer: 2, start: 12, count: 1, into: &out)
        XCTAssertEqual(Array(out[0..<5]), [0, 0, 0, 0, 42])
        // Zero-row transfers are allowed up to capacity.
        try cache.write(sequence: sequence, layer: 0, start: 13, rows: rows, count: 0)
    }

    func testRowsAre64ByteAligned() throws {
        let cache = try PagedLatentCache(layers: 2, rowWidth: 576, pageSize: 16, pageCount: 3)
        let sequence = try cache.allocate(capacity: 40)
        for layer in 0..<2 {
            for position in stride(from: 0, to: 40, by: 16) {
                let address = Int(bitPattern: try cache.row(sequence: sequence, layer: layer, position: position))
                XCTAssertEqual(address % 64, 0, "page start of layer \(layer) position \(position)")
            }
        }
    }

    func testForEachRunContiguousAllocationIsOneRun() throws {
        let cache = try PagedLatentCache(layers: 2, rowWidth: 3, pageSize: 4, pageCount: 8)
        let sequence = try cache.allocate(capacity: 30)
        XCTAssertEqual(try checkRuns(cache, sequence: sequence, layer: 1, count: 0), 0)
        for count in 1...30 {
            XCTAssertEqual(try checkRuns(cache, sequence: sequence, layer: 1, count: count), 1, "count \(count)")
        }
    }

    func testFragmentedAllocationStaysCorrect() throws {
        let cache = try PagedLatentCache(layers: 2, rowWidth: 3, pageSize: 4, pageCount: 12)
        let singles = try (0..<12).map { _ in try cache.allocate(capacity: 4) }
        for (index, id) in singles.enumerated() { try fill(cache, sequence: id, tag: index, count: 4) }
        // Free pages 1, 3, 4, 7, 9, 10: runs of length 1, 2, 1, 2.
        for page in [1, 3, 4, 7, 9, 10] { cache.release(singles[page]) }
        let fragmented = try cache.allocate(capacity: 22)  // 6 pages from 4 runs
        XCTAssertEqual(try cache.pageTable(of: fragmented), [3, 4, 9, 10, 1, 7])
        try fill(cache, sequence: fragmented, tag: 50, count: 22)
        try verify(cache, sequence: fragmented, tag: 50, count: 22)
        for page in [0, 2, 5, 6, 8, 11] { try verify(cache, sequence: singles[page], tag: page, count: 4) }
        XCTAssertEqual(try checkRuns(cache, sequence: fragmented, layer: 0, count: 22), 4)
        XCTAssertEqual(try checkRuns(cache, sequence: fragmented, layer: 1, count: 8), 1)
        XCTAssertEqual(try checkRuns(cache, sequence: fragmented, layer: 1, count: 9), 2)
        for count in 0...22 { try checkRuns(cache, sequence: fragmented, layer: 1, count: count) }
        // From any start (decode attention walks fixed chunks of positions): runs begin mid-page.
        for start in 0...22 {
            for end in start...22 { try checkRuns(cache, sequence: fragmented, layer: 1, from: start, count: end) }
        }
        XCTAssertEqual(try checkRuns(cache, sequence: fragmented, layer: 1, from: 5, count: 14), 2)   // pages 4 ‖ 9, 10
        XCTAssertEqual(try checkRuns(cache, sequence: fragmented, layer: 1, from: 22, count: 22), 0)
        // The run contents are the rows that were written.
        var seen: [Float] = []
        cache.forEachRun(sequence: fragmented, layer: 1, count: 22) { pointer, _, rows in
            seen += UnsafeBufferPointer(start: pointer, count: rows * 3)
        }
        XCTAssertEqual(seen, (0..<22).flatMap { p in (0..<3).map { value(50, 1, p, $0) } })
    }

    func testManySequencesInterleavedKeepTheirData() throws {
        var rng = SeededRandom(seed: 7)
        let cache = try PagedLatentCache(layers: 2, rowWidth: 4, pageSize: 8, pageCount: 256)
        var live: [(id: Int, tag: Int, count: Int)] = []
        var tag = 0
        for round in 0..<400 {
            if live.isEmpty || Int.random(in: 0..<3, using: &rng) != 0 {
                let capacity = 1 + Int.random(in: 0..<60, using: &rng)
                do {
                    let id = try cache.allocate(capacity: capacity)
                    let count = 1 + Int.random(in: 0..<capacity, using: &rng)
                    try fill(cache, sequence: id, tag: tag % 64, count: count)
                    try cache.setLength(count, of: id)
                    live.append((id, tag % 64, count))
                    tag += 1
                } catch KVCacheError.outOfPages(_, let needed, let free) {
                    XCTAssertGreaterThan(needed, free)
                }
            } else {
                let victim = live.remove(at: Int.random(in: 0..<live.count, using: &rng))
                XCTAssertTrue(cache.release(victim.id))
            }
            if round % 50 == 0 {
                for entry in live {
                    try verify(cache, sequence: entry.id, tag: entry.tag, count: entry.count)
                    try checkRuns(cache, sequence: entry.id, layer: 1, count: entry.count)
                    XCTAssertEqual(try cache.length(of: entry.id), entry.count)
                }
            }
        }
        XCTAssertEqual(Set(live.map(\.id)).count, live.count)
        let usedPages = try live.reduce(0) { $0 + (try cache.pageTable(of: $1.id)).count }
        XCTAssertEqual(cache.freePageCount, 256 - usedPages)
        let allPages = try live.flatMap { try cache.pageTable(of: $0.id) }
        XCTAssertEqual(Set(allPages).count, allPages.count, "no page may belong to two sequences")
        for entry in live { try verify(cache, sequence: entry.id, tag: entry.tag, count: entry.count) }
        for entry in live { cache.release(entry.id) }
        XCTAssertEqual(cache.freePageCount, 256)
        XCTAssertEqual(cache.activeSequenceCount, 0)
    }

    func testCapacityLengthAndRangeErrors() throws {
        let cache = try PagedLatentCache(layers: 2, rowWidth: 2, pageSize: 4, pageCount: 4)
        let sequence = try cache.allocate(capacity: 6)
        XCTAssertEqual(try cache.capacity(of: sequence), 6)
        try cache.setLength(6, of: sequence)
        XCTAssertEqual(try cache.length(of: sequence), 6)
        try cache.setLength(0, of: sequence)

        func expect(_ expected: KVCacheError, _ body: () throws -> Void, line: UInt = #line) {
            XCTAssertThrowsError(try body(), line: line) { XCTAssertEqual($0 as? KVCacheError, expected, line: line) }
        }
        let rows = [Float](repeating: 1, count: 16)
        var out = [Float](repeating: 0, count: 16)
        expect(.positionOutOfRange(sequence: sequence, position: 7, capacity: 6)) { try cache.setLength(7, of: sequence) }
        expect(.positionOutOfRange(sequence: sequence, position: -1, capacity: 6)) { try cache.setLength(-1, of: sequence) }
        expect(.positionOutOfRange(sequence: sequence, position: 6, capacity: 6)) {
            _ = try cache.row(sequence: sequence, layer: 0, position: 6)
        }
        expect(.positionOutOfRange(sequence: sequence, position: -1, capacity: 6)) {
            _ = try cache.row(sequence: sequence, layer: 0, position: -1)
        }
        expect(.layerOutOfRange(layer: 2, layers: 2)) { _ = try cache.row(sequence: sequence, layer: 2, position: 0) }
        expect(.positionOutOfRange(sequence: sequence, position: 6, capacity: 6)) {
            try cache.write(sequence: sequence, layer: 0, start: 4, rows: rows, count: 3)
        }
        expect(.positionOutOfRange(sequence: sequence, position: 7, capacity: 6)) {
            try cache.read(sequence: sequence, layer: 1, start: 7, count: 0, into: &out)
        }
        expect(.invalidArgument("row count must be ≥ 0, got -1")) {
            try cache.write(sequence: sequence, layer: 0, start: 0, rows: rows, count: -1)
        }
        expect(.positionOutOfRange(sequence: sequence, position: 7, capacity: 6)) {
            try cache.checkRuns(sequence: sequence, layer: 0, count: 7)
        }
        try cache.checkRuns(sequence: sequence, layer: 1, count: 6)
        XCTAssertEqual(out, [Float](repeating: 0, count: 16), "failed reads must not write")

        cache.release(sequence)
        expect(.unknownSequence(sequence)) { _ = try cache.capacity(of: sequence) }
        expect(.unknownSequence(sequence)) { try cache.setLength(0, of: sequence) }
        expect(.unknownSequence(sequence)) { _ = try cache.row(sequence: sequence, layer: 0, position: 0) }
        expect(.unknownSequence(sequence)) { try cache.checkRuns(sequence: sequence, layer: 0, count: 0) }
        expect(.unknownSequence(-5)) { _ = try cache.length(of: -5) }
        XCTAssertEqual(KVCacheError.unknownSequence(3).description,
                       "KV cache: unknown sequence 3 (never allocated or already released)")
    }
}
