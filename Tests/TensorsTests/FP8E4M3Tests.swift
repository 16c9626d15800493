import Foundation
import Tensors
import XCTest

/// The E4M3 "fn" codec against its definition: value = (-1)^s · 2^(e-7) · (1 + m/8), subnormals
/// (-1)^s · 2^-6 · m/8, 0x7F / 0xFF NaN (no infinities).
final class FP8E4M3Tests: XCTestCase {
    private func definition(_ code: UInt8) -> Double {
        let sign: Double = code & 0x80 != 0 ? -1 : 1
        let e = Int(code >> 3) & 0xF, m = Double(code & 7)
        if code & 0x7F == 0x7F { return .nan }
        return e == 0 ? sign * pow(2, -6) * m / 8 : sign * pow(2, Double(e - 7)) * (1 + m / 8)
    }

    func testEveryCodeDecodesToItsDefinition() {
        for code in 0...255 {
            let got = DTypeConversion.e4m3ToF32(UInt8(code)), want = definition(UInt8(code))
            if want.isNaN { XCTAssertTrue(got.isNaN, "code \(code)") } else { XCTAssertEqual(Double(got), want, "code \(code)") }
            if code & 0x7F == 0 { XCTAssertEqual(got.sign, code & 0x80 != 0 ? .minus : .plus, "signed zero \(code)") }
        }
        XCTAssertEqual(DTypeConversion.e4m3ToF32(0x7E), 448)
    }

    func testEncodeRoundsToNearestEvenAndSaturates() {
        // Every finite code encodes back to itself.
        for code in 0...255 where code & 0x7F != 0x7F {
            XCTAssertEqual(DTypeConversion.f32ToE4M3(DTypeConversion.e4m3ToF32(UInt8(code))), UInt8(code), "code \(code)")
        }
        // Midpoints between neighbours round to the even code; just past them, to the upper one.
        let positive = (0..<0x7E).map { DTypeConversion.e4m3ToF32(UInt8($0)) }
        for c in 0..<positive.count - 1 {
            let mid = (positive[c] + positive[c + 1]) / 2      // exact in f32
            XCTAssertEqual(DTypeConversion.f32ToE4M3(mid), UInt8(c % 2 == 0 ? c : c + 1), "midpoint after code \(c)")
            XCTAssertEqual(DTypeConversion.f32ToE4M3(mid.nextUp), UInt8(c + 1), "just past midpoint after code \(c)")
            XCTAssertEqual(DTypeConversion.f32ToE4M3(-mid.nextDown), 0x80 | UInt8(c), "negative, just below midpoint after code \(c)")
        }
        XCTAssertEqual(DTypeConversion.f32ToE4M3(1e9), 0x7E)
        XCTAssertEqual(DTypeConversion.f32ToE4M3(-500), 0xFE)
        XCTAssertEqual(DTypeConversion.f32ToE4M3(.nan) & 0x7F, 0x7F)
    }

    func testBlockQuantizerScalesPartialBlocks() {
        // [3, 5] with blocks of 2: a 2×3 scale grid, edge blocks partial; each block's amax maps to 448.
        let w: [Float] = [1, -2, 3, 0.5, 8,
                          -4, 0.25, 6, 7, -0.125,
                          0, 0, 9, 0, 0]
        let q = FP8BlockQuantizer.quantize(w, rows: 3, cols: 5, block: 2)
        XCTAssertEqual(q.scaleShape, [2, 3])
        XCTAssertEqual(q.scaleInv, [Float(4) / 448, Float(7) / 448, Float(8) / 448, 1, Float(9) / 448, 1])   // all-zero blocks: 1
        for r in 0..<3 {
            for c in 0..<5 {
                let scale = q.scaleInv[(r / 2) * 3 + c / 2]
                let back = DTypeConversion.e4m3ToF32(q.codes[r * 5 + c]) * scale
                XCTAssertEqual(back, w[r * 5 + c], accuracy: abs(w[r * 5 + c]) / 16 + 1e-9, "(\(r), \(c))")
            }
        }
    }
}
