/// f32 ↔ bf16 (upper 16 bits of the f32) for the bf16 wire dtype.
public enum BFloat16 {
    /// Round to nearest even; NaN stays a (quiet) NaN.
    @inline(__always)
    public static func bits(from value: Float) -> UInt16 {
        let bits = value.bitPattern
        if value.isNaN { return UInt16(truncatingIfNeeded: bits >> 16) | 0x0040 }
        let rounding = 0x7FFF + ((bits >> 16) & 1)
        return UInt16(truncatingIfNeeded: (bits &+ rounding) >> 16)
    }

    @inline(__always)
    public static func float(from bits: UInt16) -> Float {
        Float(bitPattern: UInt32(bits) << 16)
    }

    /// Converts `source.count` floats to little-endian bf16 at `destination` (2 bytes each).
    public static func encode(_ source: UnsafeBufferPointer<Float>, into destination: UnsafeMutableRawPointer) {
        let out = destination.bindMemory(to: UInt16.self, capacity: source.count)
        for i in 0..<source.count { out[i] = bits(from: source[i]).littleEndian }
    }

    /// Converts `count` little-endian bf16 values at `source` to floats.
    public static func decode(_ source: UnsafeRawPointer, count: Int, into destination: UnsafeMutablePointer<Float>) {
        for i in 0..<count {
            let raw = source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)
            destination[i] = float(from: UInt16(littleEndian: raw))
        }
    }
}
