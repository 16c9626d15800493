import Basics
@testable import KVCache
import XCTest

/// A bf16 cache: half the bytes per page, rows rounded to nearest-even on the way in (the bf16
/// wire's codec), read back exactly, runs visible as bf16, f32-only accesses refused.
final class BF16StorageTests: XCTestCase {
    /// Values that exercise the rounding: ties (even and odd), subnormals, ±inf, NaN, overflow.
    static let awkward: [Float] = [1, -1, 0, -0.0, 1 + 0x1p-8, 1 + 3 * 0x1p-8, 1 + 0x1p-9, 3.1415926, -2.718281,
                                   Float.leastNonzeroMagnitude, 1e-40, .infinity, -.infinity, .nan, Float.greatestFiniteMagnitude, 65504.7]

    func testWriteRoundsToNearestEvenAndReadIsExact() throws {
        let width = 7
        let cache = try PagedLatentCache(layers: 2, rowWidth: width, pageSize: 4, pageCount: 4, dtype: .bf16)
        let sequence = try cache.allocate(capacity: 9)
        var rows = [Float](repeating: 0, count: 9 * width)
        for i in rows.indices { rows[i] = Self.awkward[i % Self.awkward.count] * Float(1 + i / Self.awkward.count) }
        try cache.write(sequence: sequence, layer: 1, start: 0, rows: rows, count: 9)      // crosses two page boundaries
        var back = [Float](repeating: 7, count: 9 * width)
        try cache.read(sequence: sequence, layer: 1, start: 0, count: 9, into: &back)
        for i in rows.indices {
            let want = BFloat16.float(from: BFloat16.bits(from: rows[i]))
            if want.isNaN { XCTAssertTrue(back[i].isNaN, "element \(i)") } else { XCTAssertEqual(back[i].bitPattern, want.bitPattern, "element \(i)") }
        }
        // The stored bytes are the codec's bits, and the runs show them in position order.
        var seen = 0
        cache.forEachBF16Run(sequence: sequence, layer: 1, count: 9) { run, first, count in
            for r in 0..<count {
                for c in 0..<width {
                    let i = (first + r) * width + c
                    let want = BFloat16.bits(from: rows[i])
                    XCTAssertEqual(run[r * width + c], want, "position \(first + r) column \(c)")
                }
            }
            seen += count
        }
        XCTAssertEqual(seen, 9)
    }

    func testHalfTheBytesTwiceThePages() throws {
        let f32 = try PagedLatentCache(layers: 3, rowWidth: 576, pageSize: 16, pageCount: 2)
        let bf16 = try PagedLatentCache(layers: 3, rowWidth: 576, pageSize: 16, pageCount: 2, dtype: .bf16)
        XCTAssertEqual(bf16.bytesPerToken, 3 * 576 * 2)
        XCTAssertEqual(bf16.bytesPerPage, 16 * 576 * 2)
        XCTAssertEqual(f32.bytesPerPage, 2 * bf16.bytesPerPage)
        let gib = 1 << 30
        let pagesF32 = PagedLatentCache.pageCount(fittingBytes: gib, layers: 61, rowWidth: 576, pageSize: 16, dtype: .f32)
        let pagesBF16 = PagedLatentCache.pageCount(fittingBytes: gib, layers: 61, rowWidth: 576, pageSize: 16, dtype: .bf16)
        XCTAssertEqual(pagesF32, gib / (61 * 16 * 576 * 4))                // 477 V3-shaped pages per GiB
        XCTAssertEqual(pagesBF16, gib / (61 * 16 * 576 * 2))               // 955
        XCTAssertEqual(PagedLatentCache.pageCount(fittingBytes: 100, layers: 1, rowWidth: 576, pageSize: 16, dtype: .bf16), 0)
    }

    func testF32OnlyAccessesAreRefused() throws {
        let cache = try PagedLatentCache(layers: 1, rowWidth: 4, pageSize: 4, pageCount: 2, dtype: .bf16)
        let sequence = try cache.allocate(capacity: 5)
        XCTAssertThrowsError(try cache.row(sequence: sequence, layer: 0, position: 0)) {
            XCTAssertEqual($0 as? KVCacheError, .dtypeMismatch(expected: .f32, cache: .bf16))
        }
        // The raw row is where the codec's bits land.
        let row: [Float] = [1.5, -2, 0.1, 3]
        try cache.write(sequence: sequence, layer: 0, start: 4, rows: row, count: 1)
        let raw = try cache.rowBytes(sequence: sequence, layer: 0, position: 4).assumingMemoryBound(to: UInt16.self)
        XCTAssertEqual((0..<4).map { raw[$0] }, row.map { BFloat16.bits(from: $0) })
        XCTAssertEqual(KVCacheError.dtypeMismatch(expected: .f32, cache: .bf16).description,
                       "KV cache: this access needs a f32 cache, the cache holds bf16")
    }
}
