import Basics
import XCTest

/// The one bf16 codec (checkpoints and the wire) against patterns computed elsewhere.
final class BFloat16Tests: XCTestCase {
    private func toBF16(_ values: [Float]) -> [UInt16] {
        var out = [UInt16](repeating: 0, count: values.count)
        values.withUnsafeBufferPointer { src in out.withUnsafeMutableBytes { BFloat16.encode(src, into: $0.baseAddress!) } }
        return out
    }

    /// Expected patterns computed with ml_dtypes.bfloat16 (numpy astype).
    func testKnownPatternsIncludingTies() {
        let inputs: [Float] = [1.00390625,     // exactly halfway 0x3F80|0x3F81: tie to even, down
                               1.01171875,     // halfway 0x3F81|0x3F82: tie to even, up
                               -1.00390625, 3.4e38 /* rounds past max: inf */, .nan, Float(bitPattern: 0x0001_16C2) /* 1e-40, subnormal */,
                               1.0, -0.0, .infinity, -.infinity, 1.0078125 /* exactly representable */]
        let expected: [UInt16] = [0x3F80, 0x3F82, 0xBF80, 0x7F80, 0x7FC0, 0x0001, 0x3F80, 0x8000, 0x7F80, 0xFF80, 0x3F81]
        XCTAssertEqual(toBF16(inputs), expected)
        XCTAssertEqual(inputs.map(BFloat16.bits(from:)), expected, "scalar and bulk paths agree")
    }

    func testNaNStaysNaNEvenWithLowPayload() {
        // Truncation would give 0x7F80 (inf); the quiet bit keeps it a NaN, the sign survives.
        let lowPayload = Float(bitPattern: 0x7F80_0001), negative = Float(bitPattern: 0xFFC1_2345)
        XCTAssertEqual(toBF16([lowPayload, negative]), [0x7FC0, 0xFFC1])
    }

    func testDecodeIsExactAndEveryPatternRoundTrips() {
        let all = (0...UInt16.max).map { $0 }
        var floats = [Float](repeating: 0, count: all.count)
        all.withUnsafeBytes { src in floats.withUnsafeMutableBufferPointer { BFloat16.decode(src.baseAddress!, count: all.count, into: $0.baseAddress!) } }
        for (bits, f) in zip(all, floats) { XCTAssertEqual(f.bitPattern, UInt32(bits) << 16) }
        let back = toBF16(floats)
        XCTAssertEqual(back.count, all.count)   // zip below stops at the shorter side
        for (bits, b) in zip(all, back) {
            if Float(bitPattern: UInt32(bits) << 16).isNaN { XCTAssertEqual(b, bits | 0x0040) } else { XCTAssertEqual(b, bits) }
        }
    }

    /// A chunk payload may start at any byte offset of a received message.
    func testDecodeReadsUnalignedLittleEndianBytes() {
        let bytes: [UInt8] = [0xEE, 0x80, 0x3F, 0x20, 0xC0, 0xC0, 0x7F]   // one pad byte, then 1.0, -2.5, NaN
        var out = [Float](repeating: 0, count: 3)
        bytes.withUnsafeBytes { raw in out.withUnsafeMutableBufferPointer { BFloat16.decode(raw.baseAddress! + 1, count: 3, into: $0.baseAddress!) } }
        XCTAssertEqual(out[0], 1.0)
        XCTAssertEqual(out[1], -2.5)
        XCTAssertTrue(out[2].isNaN)
    }
}
