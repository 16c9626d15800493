@testable import Benchmarks
import TinyModelSupport
import XCTest

/// `pd-bench decode --pass-every N`: the timed steps go in chunks between read passes, every step in
/// exactly one chunk, each chunk against a bandwidth its passes measured.
final class DecodeBenchmarkTests: XCTestCase {
    func testChunksCoverEveryStepOnce() throws {
        let bench = DecodeBenchmark(model: TinyModel.directory, context: 4, steps: 5, batches: [1, 3], threads: 1, passEvery: 2)
        let report = try bench.run()
        XCTAssertEqual(report.rows.count, 2)
        for row in report.rows {
            XCTAssertEqual(row.chunks.map(\.steps), [2, 2, 1], "batch \(row.batch)")
            // The chunks' times add up to the row's: no step dropped or counted twice.
            XCTAssertEqual(row.chunks.reduce(0) { $0 + $1.seconds }, row.meanSeconds * 5, accuracy: 1e-9)
            XCTAssertEqual(row.chunks.reduce(0) { $0 + $1.bytes }, (row.meanWeightBytes + row.meanKVBytes) * 5,
                           accuracy: 1e-6 * row.meanWeightBytes)
            for chunk in row.chunks {
                XCTAssertTrue(chunk.bytesPerSecond.isFinite && chunk.bytesPerSecond > 0)
                XCTAssertTrue(chunk.timesFloor.isFinite && chunk.timesFloor > 0)
            }
            let ratios = row.chunks.map(\.timesFloor).sorted()
            XCTAssertEqual(row.timesAdjacentFloor, ratios[1])
        }
        XCTAssertTrue(report.text().contains("× adjacent floor: median"))
    }

    func testNoChunksWithoutPassesAndNegativeRejected() throws {
        let plain = try DecodeBenchmark(model: TinyModel.directory, context: 4, steps: 3, batches: [1], threads: 1).run()
        XCTAssertTrue(plain.rows[0].chunks.isEmpty)
        XCTAssertFalse(plain.json().contains("vs_adjacent_floor"))
        XCTAssertThrowsError(try DecodeBenchmark(model: TinyModel.directory, context: 4, steps: 3, batches: [1], threads: 1,
                                                 passEvery: -1).run())
    }
}
