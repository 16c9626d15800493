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
