/// Reads a fuzz input front to back as the values a structured harness needs; past the end every
/// read returns zero / empty, so any input is a valid program.
public struct ByteCursor {
    private let bytes: UnsafeRawBufferPointer
    public private(set) var offset = 0

    public init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    public var isAtEnd: Bool { offset >= bytes.count }
    public var remaining: UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: bytes[min(offset, bytes.count)...]) }

    public mutating func byte() -> UInt8 {
        guard offset < bytes.count else { return 0 }
        defer { offset += 1 }
        return bytes[offset]
    }

    public mutating func uint16() -> Int { Int(byte()) | Int(byte()) << 8 }

    /// Up to `count` bytes (fewer at the end of the input).
    public mutating func take(_ count: Int) -> UnsafeRawBufferPointer {
        let end = min(bytes.count, offset + count)
        defer { offset = end }
        return UnsafeRawBufferPointer(rebasing: bytes[min(offset, end)..<end])
    }
}

/// Cuts `bytes` into segments at positions derived from `seed`: the same message as a gRPC byte
/// buffer with several slices, which the segmented readers must treat like one contiguous span.
public func segments(of bytes: UnsafeRawBufferPointer, seed: UInt8) -> [UnsafeRawBufferPointer] {
    guard seed & 0x80 != 0, bytes.count > 1 else { return [bytes] }
    var cuts: [Int] = []
    var position = 0
    var step = Int(seed & 0x0F) + 1
    while position + step < bytes.count {
        position += step
        cuts.append(position)
        step = step * 3 % 17 + 1
    }
    var result: [UnsafeRawBufferPointer] = []
    var start = 0
    for cut in cuts + [bytes.count] {
        result.append(UnsafeRawBufferPointer(rebasing: bytes[start..<cut]))
        start = cut
    }
    return result
}
