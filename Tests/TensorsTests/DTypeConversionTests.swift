import XCTest
@testable import Tensors

final class DTypeConversionTests: XCTestCase {
    private func toBF16(_ values: [Float]) -> [UInt16] {
        var out = [UInt16](repeating: 0, count: values.count)
        DTypeConversion.f32ToBF16(values, &out, count: values.count)
        return out
    }

    private func toF16(_ values: [Float]) -> [UInt16] {
        var out = [UInt16](repeating: 0, count: values.count)
        DTypeConversion.f32ToF16(values, &out, count: values.count)
        return out
    }

    private func fromF16(_ bits: [UInt16]) -> [UInt32] {
        var out = [Float](repeating: 0, count: bits.count)
        DTypeConversion.f16ToF32(bits, &out, count: bits.count)
        return out.map(\.bitPattern)
    }

    /// Expected patterns computed with ml_dtypes.bfloat16 (numpy astype).
    func testBF16KnownPatternsIncludingTies() {
        let inputs: [Float] = [1.00390625,     // exactly halfway 0x3F80|0x3F81: tie to even, down
                               1.01171875,     // halfway 0x3F81|0x3F82: tie to even, up
                               -1.00390625, 3.4e38 /* rounds past max: inf */, .nan, Float(bitPattern: 0x0001_16C2) /* 1e-40, subnormal */,
                               1.0, -0.0, .infinity, -.infinity, 1.0078125 /* exactly representable */]
        XCTAssertEqual(toBF16(inputs), [0x3F80, 0x3F82, 0xBF80, 0x7F80, 0x7FC0, 0x0001,
                                        0x3F80, 0x8000, 0x7F80, 0xFF80, 0x3F81])
    }

    func testBF16NaNStaysNaNEvenWithLowPayload() {
        // Truncation would give 0x7F80 (inf); the quiet bit keeps it a NaN, the sign survives.
        let lowPayload = Float(bitPattern: 0x7F80_0001), negative = Float(bitPattern: 0xFFC1_2345)
        XCTAssertEqual(toBF16([lowPayload, negative]), [0x7FC0, 0xFFC1])
    }

    func testBF16ToF32IsExactAndRoundTripsAllPatterns() {
        let all = (0...UInt16.max).map { $0 }
        var floats = [Float](repeating: 0, count: all.count)
        DTypeConversion.bf16ToF32(all, &floats, count: all.count)
        for (bits, f) in zip(all, floats) { XCTAssertEqual(f.bitPattern, UInt32(bits) << 16) }
        let back = toBF16(floats)
        XCTAssertEqual(back.count, all.count)   // zip below stops at the shorter side
        for (bits, b) in zip(all, back) {
            if Float(bitPattern: UInt32(bits) << 16).isNaN { XCTAssertEqual(b, bits | 0x0040) } else { XCTAssertEqual(b, bits) }
        }
    }

    /// Expected patterns computed with numpy float32 → float16.
    func testF16KnownPatterns() {
        let inputs: [Float] = [65504, 65520 /* tie at the top: to even = inf */, 1e-7, 6e-8, 2.98e-8, 2.99e-8,
                               .infinity, -0.0, 1, -2, 0x1p-14 /* smallest normal */, 100_000]
        XCTAssertEqual(toF16(inputs), [0x7BFF, 0x7C00, 0x0002, 0x0001, 0x0000, 0x0001,
                                       0x7C00, 0x8000, 0x3C00, 0xC000, 0x0400, 0x7C00])
        let nan = toF16([.nan, -.nan])
        XCTAssertEqual(nan[0], 0x7E00)
        XCTAssertEqual(nan[1], 0xFE00)
    }

    func testF16TiesRoundToEven() {
        // 1 + 2^-11 is halfway between 1 (0x3C00, even) and 1 + 2^-10 (0x3C01): even wins.
        // 1 + 3·2^-11 is halfway between 0x3C01 and 0x3C02: even wins.
        // In subnormals: 1.5·2^-24 is halfway between 0x0001 and 0x0002.
        XCTAssertEqual(toF16([1 + 0x1p-11, 1 + 3 * 0x1p-11, 1.5 * 0x1p-24, 0.5 * 0x1p-24]), [0x3C00, 0x3C02, 0x0002, 0x0000])
    }

    /// Every f16 pattern against Swift's own Float16 → Float (subnormals, inf, NaN included).
    func testF16ToF32MatchesFloat16ForAllPatterns() {
        let all = (0...UInt16.max).map { $0 }
        let ours = fromF16(all)
        XCTAssertEqual(ours.count, all.count)   // zip below stops at the shorter side
        for (bits, got) in zip(all, ours) {
            let reference = Float(Float16(bitPattern: bits))
            if reference.isNaN {
                XCTAssertTrue(Float(bitPattern: got).isNaN, "pattern \(bits)")
                XCTAssertEqual(got >> 31, UInt32(bits >> 15), "NaN sign of \(bits)")
            } else {
                XCTAssertEqual(got, reference.bitPattern, "pattern \(String(bits, radix: 16))")
            }
        }
        XCTAssertEqual(fromF16([0x0001, 0x03FF, 0x8001, 0x7C00, 0xFC00]),
                       [Float(0x1p-24).bitPattern, Float(1023 * 0x1p-24).bitPattern, Float(-0x1p-24).bitPattern,
                        Float.infinity.bitPattern, (-Float.infinity).bitPattern])
    }

    /// f32 → f16 against Swift's Float16(Float) on a spread of bit patterns covering every exponent.
    func testF32ToF16MatchesFloat16OnSampledPatterns() {
        var patterns: [UInt32] = []
        var x: UInt32 = 0
        while true {
            patterns.append(x)
            let (next, overflow) = x.addingReportingOverflow(65_521)   // prime stride: varied low bits
            if overflow { break }
            x = next
        }
        let floats = patterns.map { Float(bitPattern: $0) }
        let ours = toF16(floats)
        XCTAssertEqual(ours.count, floats.count)   // zip below stops at the shorter side
        for (f, got) in zip(floats, ours) {
            if f.isNaN {
                XCTAssertEqual(got & 0x7FFF, 0x7E00)
            } else {
                XCTAssertEqual(got, Float16(f).bitPattern, "input \(f) (\(String(f.bitPattern, radix: 16)))")
            }
        }
    }

    func testEveryF16SurvivesF32RoundTrip() {
        let all = (0...UInt16.max).map { $0 }
        var floats = [Float](repeating: 0, count: all.count)
        DTypeConversion.f16ToF32(all, &floats, count: all.count)
        let back = toF16(floats)
        XCTAssertEqual(back.count, all.count)   // zip below stops at the shorter side
        for (bits, b) in zip(all, back) where !Float(Float16(bitPattern: bits)).isNaN { XCTAssertEqual(b, bits) }
    }
}
