@testable import Benchmarks
import Foundation
import TinyModelSupport
import XCTest

/// `pd-bench prefill`'s yardstick is the peak of the GEMM path the model's projections take (#15):
/// plain sgemm for f32 weights; for weights kept in bf16, panel conversion + sgemm, with plain
/// sgemm's peak timed and reported beside it. Checked on the tiny model as stored (f32) and
/// converted to bf16 at load.
final class PrefillYardstickTests: XCTestCase {
    func testPeakIsTimedOnThePathOfTheStoredDType() throws {
        let directory = TinyModel.directory
        let f32 = try PrefillBenchmark(model: directory, lengths: [8], threads: 1, repeats: 1).run()
        XCTAssertTrue(f32.peakPath.hasPrefix("sgemm on "), f32.peakPath)
        XCTAssertNil(f32.rows[0].sgemmPeakGFLOPs, "f32 weights: one yardstick")
        XCTAssertEqual(f32.rows[0].mfuVsSgemm, f32.rows[0].mfu)
        XCTAssertFalse(f32.text().contains("MFU vs sgemm"))

        let bf16 = try PrefillBenchmark(model: directory, weightsDType: .bf16, lengths: [8], threads: 1, repeats: 1).run()
        XCTAssertTrue(bf16.peakPath.hasPrefix("bf16 panels + sgemm on "), bf16.peakPath)
        let row = bf16.rows[0]
        XCTAssertGreaterThan(row.peakGFLOPs, 0)
        let sgemmPeak = try XCTUnwrap(row.sgemmPeakGFLOPs, "two yardsticks, timed apart")
        XCTAssertGreaterThan(sgemmPeak, 0)
        XCTAssertNotEqual(row.peakGFLOPs, sgemmPeak, "two yardsticks, timed apart")
        XCTAssertEqual(row.mfu, row.gflops / row.peakGFLOPs)
        XCTAssertEqual(row.mfuVsSgemm, row.gflops / sgemmPeak)
        XCTAssertTrue(bf16.text().contains("MFU vs sgemm"))
        let json = try JSONSerialization.jsonObject(with: Data(bf16.json().utf8)) as! [String: Any]
        XCTAssertEqual(json["peak_path"] as? String, bf16.peakPath)
        let result = (json["results"] as! [[String: Any]])[0]
        XCTAssertEqual(try XCTUnwrap(result["peak_gflops"] as? Double), row.peakGFLOPs, accuracy: 1e-9 * row.peakGFLOPs)
        XCTAssertEqual(try XCTUnwrap(result["sgemm_peak_gflops"] as? Double), sgemmPeak, accuracy: 1e-9 * sgemmPeak)
        XCTAssertEqual(try XCTUnwrap(result["mfu_vs_sgemm"] as? Double), row.mfuVsSgemm, accuracy: 1e-9)
    }
}
