@testable import Benchmarks
import XCTest

final class RunStatisticsTests: XCTestCase {
    func testMedianOfOddAndEvenCounts() {
        XCTAssertEqual(median([]), 0)
        XCTAssertEqual(median([5]), 5)
        XCTAssertEqual(median([3, 1, 2]), 2)
        XCTAssertEqual(median([4, 1, 3, 2]), 2.5)
        XCTAssertEqual(median([10, -1, 7, 7, 0]), 7)
    }

    /// Rounds drift (the host gets slower): the ratio of medians is off, the median of the
    /// per-round ratios is the true 2.
    func testPairedRatioCancelsDriftBetweenRounds() {
        let b = [1.0, 2.0, 4.0], a = b.map { 2 * $0 }
        XCTAssertEqual(pairedRatios(a, b), [2, 2, 2])
        XCTAssertEqual(pairedRatio(a, b), 2)
        XCTAssertEqual(pairedRatio([3, 8, 1], [1, 2, 1]), 3)            // ratios 3, 4, 1
        XCTAssertEqual(pairedRatios([1, 1], [0, 2]), [0, 0.5], "a zero denominator gives 0, not inf")
        XCTAssertEqual(pairedRatios([1, 2, 3], [1, 1]), [1, 2], "unpaired runs are dropped")
    }
}
