/// On-disk (and on-wire) element types we accept; compute is always f32.
public enum DType: String, Sendable, CaseIterable {
    case f32 = "F32", bf16 = "BF16", f16 = "F16"
    public var byteSize: Int { self == .f32 ? 4 : 2 }
}

/// Element conversions as plain loops the compiler vectorises.
public enum DTypeConversion {
    public static func bf16ToF32(_ src: UnsafePointer<UInt16>, _ dst: UnsafeMutablePointer<Float>, count: Int) {
        let out = UnsafeMutableRawPointer(dst).assumingMemoryBound(to: UInt32.self)
        for i in 0..<count { out[i] = UInt32(src[i]) << 16 }
    }

    /// Round to nearest even; NaN stays NaN (quiet bit forced).
    public static func f32ToBF16(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<UInt16>, count: Int) {
        let bits = UnsafeRawPointer(src).assumingMemoryBound(to: UInt32.self)
        for i in 0..<count {
            let b = bits[i]
            if (b & 0x7FFF_FFFF) > 0x7F80_0000 {
                dst[i] = UInt16(truncatingIfNeeded: b >> 16) | 0x0040
            } else {
                let rounding = 0x7FFF &+ ((b >> 16) & 1)
                dst[i] = UInt16(truncatingIfNeeded: (b &+ rounding) >> 16)
            }
        }
    }

    public static func f16ToF32(_ src: UnsafePointer<UInt16>, _ dst: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count { dst[i] = Float(Float16(bitPattern: src[i])) }
    }

    public static func f32ToF16(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<UInt16>, count: Int) {
        for i in 0..<count { dst[i] = Float16(src[i]).bitPattern }
    }
}
