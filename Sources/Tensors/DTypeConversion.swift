/// Element conversions between f32 and IEEE binary16, written as branch-free loops (selects, not
/// branches) so the compiler vectorises them; all work on little-endian bit patterns. bf16 is
/// Basics.BFloat16, the codec the wire uses too.
public enum DTypeConversion {
    /// IEEE binary16 to f32, exact: normals rebias the exponent, subnormals are renormalised by one f32
    /// subtraction, inf/NaN keep their payload.
    public static func f16ToF32(_ src: UnsafePointer<UInt16>, _ dst: UnsafeMutablePointer<Float>, count: Int) {
        let out = UnsafeMutableRawPointer(dst).assumingMemoryBound(to: UInt32.self)
        let exponentMask: UInt32 = 0x7C00 &<< 13            // f16 exponent field, in f32 position
        let rebias: UInt32 = (127 - 15) &<< 23
        let subnormalBase = Float(bitPattern: 113 &<< 23)    // 2^-14, the smallest f16 normal
        for i in 0..<count {
            let h = UInt32(src[i])
            let sign = (h & 0x8000) &<< 16
            let shifted = (h & 0x7FFF) &<< 13
            let exponent = shifted & exponentMask
            let normal = shifted &+ rebias
            let infOrNaN = normal &+ rebias                  // exponent all ones: 255
            let subnormal = (Float(bitPattern: normal &+ (1 &<< 23)) - subnormalBase).bitPattern
            let magnitude = exponent == exponentMask ? infOrNaN : (exponent == 0 ? subnormal : normal)
            out[i] = magnitude | sign
        }
    }

    /// f32 to IEEE binary16, round to nearest even, including f16 subnormals; overflow gives ±inf,
    /// NaN gives a quiet NaN (0x7E00) with its sign.
    public static func f32ToF16(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<UInt16>, count: Int) {
        let bits = UnsafeRawPointer(src).assumingMemoryBound(to: UInt32.self)
        let f16Overflow: UInt32 = (127 + 16) &<< 23          // 65536: at or above rounds to inf
        let f16SmallestNormal: UInt32 = 113 &<< 23           // 2^-14
        let denormMagic: UInt32 = ((127 - 15) + (23 - 10) + 1) &<< 23   // 0.5: aligns the f16 subnormal ulp
        let rebias = UInt32(bitPattern: Int32(15 - 127) &<< 23)
        for i in 0..<count {
            let b = bits[i]
            let sign = b & 0x8000_0000
            let a = b ^ sign
            let special: UInt32 = a > 0x7F80_0000 ? 0x7E00 : 0x7C00
            let subnormal = (Float(bitPattern: a) + Float(bitPattern: denormMagic)).bitPattern &- denormMagic
            let mantissaOdd = (a &>> 13) & 1
            let normal = (a &+ rebias &+ 0xFFF &+ mantissaOdd) &>> 13
            let magnitude = a >= f16Overflow ? special : (a < f16SmallestNormal ? subnormal : normal)
            dst[i] = UInt16(truncatingIfNeeded: magnitude | (sign &>> 16))
        }
    }
}

extension DTypeConversion {
    /// OCP float8 E4M3 "fn" (torch.float8_e4m3fn): bias 7, no infinities, 0x7F / 0xFF are NaN,
    /// largest finite ±448. Exact to f32 by bit manipulation (subnormals m·2^-9 through one
    /// f32 multiply, which is exact).
    @inline(__always)
    public static func e4m3ToF32(_ byte: UInt8) -> Float {
        let b = UInt32(byte)
        let sign = (b & 0x80) &<< 24
        let exponent = (b &>> 3) & 0xF, mantissa = b & 0x7
        let normal = Float(bitPattern: ((exponent &+ 120) &<< 23) | (mantissa &<< 20))
        let subnormal = Float(mantissa) * Float(bitPattern: (127 - 9) &<< 23)     // m · 2^-9
        let magnitude = (b & 0x7F) == 0x7F ? Float.nan : (exponent == 0 ? subnormal : normal)
        return Float(bitPattern: magnitude.bitPattern | sign)
    }

    public static func e4m3ToF32(_ src: UnsafePointer<UInt8>, _ dst: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count { dst[i] = e4m3ToF32(src[i]) }
    }

    /// f32 to E4M3 "fn", round to nearest even (subnormals included), saturating to ±448 as
    /// quantizers clamp before the cast; NaN → 0x7F with its sign.
    public static func f32ToE4M3(_ value: Float) -> UInt8 {
        let sign: UInt8 = value.sign == .minus ? 0x80 : 0
        if value.isNaN { return sign | 0x7F }
        let a = min(abs(value), 448)
        if a < Float(bitPattern: (127 - 6) &<< 23) {              // below 2^-6: subnormal grid m · 2^-9
            let m = (a * 512).rounded(.toNearestOrEven)              // 0...8 (8 = the smallest normal)
            return sign | UInt8(m)
        }
        let bits = a.bitPattern
        let rounded = bits &+ 0x7FFFF &+ ((bits &>> 20) & 1)           // round to 3 mantissa bits
        let exponent = (rounded &>> 23) &- 120, mantissa = (rounded &>> 20) & 0x7
        return sign | UInt8(truncatingIfNeeded: (exponent &<< 3) | mantissa)
    }
}
