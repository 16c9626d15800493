/// The one f32 ↔ bf16 codec (bf16 = the upper 16 bits of an f32), for checkpoints and the wire.
/// Written as branch-free selects so the bulk loops vectorise; bf16 bytes are little-endian.
public enum BFloat16 {
    /// Round to nearest, ties to even (as PyTorch / ml_dtypes); overflow rounds to ±inf; a NaN stays
    /// a NaN with its sign and top payload bits, quiet bit set (so a low-payload NaN cannot turn into inf).
    @inline(__always)
    public static func bits(from value: Float) -> UInt16 {
        let b = value.bitPattern
        let rounded = (b &+ 0x7FFF &+ ((b &>> 16) & 1)) &>> 16
        let quietNaN = (b &>> 16) | 0x0040
        let isNaN = (b & 0x7FFF_FFFF) > 0x7F80_0000
        return UInt16(truncatingIfNeeded: isNaN ? quietNaN : rounded)
    }

    /// Exact: a shift.
    @inline(__always)
    public static func float(from bits: UInt16) -> Float {
        Float(bitPattern: UInt32(bits) &<< 16)
    }

    /// Converts `source.count` floats to little-endian bf16 at `destination` (2 bytes each, 2-byte aligned).
    public static func encode(_ source: UnsafeBufferPointer<Float>, into destination: UnsafeMutableRawPointer) {
        let out = destination.bindMemory(to: UInt16.self, capacity: source.count)
        for i in 0..<source.count { out[i] = bits(from: source[i]).littleEndian }
    }

    /// `encode` of `count` little-endian floats at `source` (any alignment), e.g. an f32 wire payload.
    public static func encode(unalignedFloats source: UnsafeRawPointer, count: Int, into destination: UnsafeMutableRawPointer) {
        let out = destination.bindMemory(to: UInt16.self, capacity: count)
        for i in 0..<count {
            let value = Float(bitPattern: UInt32(littleEndian: source.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
            out[i] = bits(from: value).littleEndian
        }
    }

    /// Converts `count` little-endian bf16 values at `source` (any alignment) to floats.
    public static func decode(_ source: UnsafeRawPointer, count: Int, into destination: UnsafeMutablePointer<Float>) {
        for i in 0..<count {
            let raw = source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)
            destination[i] = float(from: UInt16(littleEndian: raw))
        }
    }
}
