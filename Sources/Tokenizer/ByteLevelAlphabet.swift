/// GPT-2's byte ↔ printable-character table (`bytes_to_unicode`): printable Latin-1 bytes map to
/// themselves, the other 68 bytes to U+0100 upwards in byte order.
enum ByteLevelAlphabet {
    /// [256]: byte → scalar value.
    static let scalarForByte: [UInt32] = {
        var table = [UInt32](repeating: 0, count: 256)
        var next: UInt32 = 256
        for b in 0..<256 {
            let printable = (0x21...0x7E).contains(b) || (0xA1...0xAC).contains(b) || (0xAE...0xFF).contains(b)
            if printable {
                table[b] = UInt32(b)
            } else {
                table[b] = next
                next += 1
            }
        }
        return table
    }()

    /// Scalar value → byte, for scalars < 324; -1 elsewhere.
    static let byteForScalar: [Int16] = {
        var table = [Int16](repeating: -1, count: 324)
        for (b, s) in scalarForByte.enumerated() { table[Int(s)] = Int16(b) }
        return table
    }()

    /// UTF-8 bytes of the scalars, each mapped to its alphabet scalar.
    static func encode(_ s: [UInt32]) -> [UInt32] {
        var out: [UInt32] = []
        out.reserveCapacity(s.count * 2)
        encode(s[...], into: &out)
        return out
    }

    static func encode(_ s: ArraySlice<UInt32>, into out: inout [UInt32]) {
        for v in s {
            if v < 0x80 {
                out.append(scalarForByte[Int(v)])
            } else if v < 0x800 {
                out.append(scalarForByte[Int(0xC0 | v >> 6)])
                out.append(scalarForByte[Int(0x80 | v & 0x3F)])
            } else if v < 0x10000 {
                out.append(scalarForByte[Int(0xE0 | v >> 12)])
                out.append(scalarForByte[Int(0x80 | v >> 6 & 0x3F)])
                out.append(scalarForByte[Int(0x80 | v & 0x3F)])
            } else {
                out.append(scalarForByte[Int(0xF0 | v >> 18)])
                out.append(scalarForByte[Int(0x80 | v >> 12 & 0x3F)])
                out.append(scalarForByte[Int(0x80 | v >> 6 & 0x3F)])
                out.append(scalarForByte[Int(0x80 | v & 0x3F)])
            }
        }
    }

    /// The bytes a token spells, or nil when one of its scalars is outside the alphabet.
    static func decode(_ token: String) -> [UInt8]? {
        var out: [UInt8] = []
        for s in token.unicodeScalars {
            guard s.value < 324, byteForScalar[Int(s.value)] >= 0 else { return nil }
            out.append(UInt8(byteForScalar[Int(s.value)]))
        }
        return out
    }
}
