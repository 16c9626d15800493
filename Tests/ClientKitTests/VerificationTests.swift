@testable import ClientKit
import XCTest

final class VerificationTests: XCTestCase {
    private func record(_ id: String, _ tokens: [Int], error: String? = nil) -> GenerationRecord {
        var r = GenerationRecord()
        r.requestID = id; r.tokens = tokens; r.error = error
        return r
    }

    /// Records cycle through the prompts; each prompt's reference is computed once; failed
    /// requests are not compared; a differing sequence is reported with both token lists.
    func testComparesEachRecordWithItsPromptsReference() {
        let prompts: [[UInt32]] = [[1, 2], [3]]
        var calls: [[UInt32]] = []
        let reference: ([UInt32]) -> [Int] = { prompt in calls.append(prompt); return prompt.map { Int($0) * 10 } }
        let records = [record("a", [10, 20]), record("b", [30]), record("c", [10, 21]), record("d", [], error: "UNAVAILABLE")]
        let report = Verification.compare(records: records, prompts: prompts, reference: reference)
        XCTAssertEqual(calls, [[1, 2], [3]])
        XCTAssertEqual(report.compared, 3)
        XCTAssertFalse(report.verified)
        XCTAssertEqual(report.mismatches, [TokenMismatch(request: 2, requestID: "c", tokens: [10, 21], reference: [10, 20])])
        XCTAssertEqual(report.mismatches[0].description, "request 2 (c): got [10, 21], reference [10, 20]")
    }

    func testEqualSequencesVerify() {
        let report = Verification.compare(records: [record("a", [5]), record("b", [5])], prompts: [[7]]) { _ in [5] }
        XCTAssertTrue(report.verified)
        XCTAssertEqual(report.compared, 2)
    }
}
