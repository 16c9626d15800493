/// Reads protobuf wire format across a list of non-contiguous byte segments (a received gRPC
/// message is ~64 KiB slices) without joining them: varints and fixed fields may straddle
/// segment boundaries; length-delimited fields come back as spans into the segments.
struct SegmentedReader {
    private let segments: [UnsafeRawBufferPointer]
    private var segment = 0
    private var offset = 0
    /// Bytes left inside the current message (a nested message gets a reader with its own limit).
    private(set) var remaining: Int
    private let messageName: String

    init(segments: [UnsafeRawBufferPointer], messageName: String) {
        self.segments = segments
        self.remaining = segments.reduce(0) { $0 + $1.count }
        self.messageName = messageName
    }

    var isAtEnd: Bool { remaining == 0 }

    private func malformed(_ detail: String) -> WireError {
        WireError.malformed(message: messageName, detail: detail)
    }

    private mutating func skipEmptySegments() {
        while segment < segments.count && offset == segments[segment].count {
            segment += 1
            offset = 0
        }
    }

    mutating func readByte() throws -> UInt8 {
        guard remaining > 0 else { throw malformed("message ends inside a field") }
        skipEmptySegments()
        let byte = segments[segment][offset]
        offset += 1
        remaining -= 1
        return byte
    }

    mutating func readVarint() throws -> UInt64 {
        var value: UInt64 = 0
        for shift in stride(from: 0, to: 70, by: 7) {
            let byte = try readByte()
            value |= UInt64(byte & 0x7F) << UInt64(shift)
            if byte & 0x80 == 0 { return value }
        }
        throw malformed("varint longer than 10 bytes")
    }

    mutating func readFixed64() throws -> UInt64 {
        var value: UInt64 = 0
        for i in 0..<8 { value |= UInt64(try readByte()) << UInt64(8 * i) }
        return value
    }

    mutating func readFixed32() throws -> UInt32 {
        var value: UInt32 = 0
        for i in 0..<4 { value |= UInt32(try readByte()) << UInt32(8 * i) }
        return value
    }

    /// (field number, wire type) of the next field.
    mutating func readTag() throws -> (field: UInt64, wireType: UInt64) {
        let tag = try readVarint()
        guard tag >> 3 != 0 else { throw malformed("field number 0") }
        return (tag >> 3, tag & 7)
    }

    mutating func readLength() throws -> Int {
        let length = try readVarint()
        guard length <= UInt64(remaining) else {
            throw malformed("length \(length) runs past the message end (\(remaining) bytes left)")
        }
        return Int(length)
    }

    /// The next `count` bytes as spans into the segments (no copy).
    mutating func spans(_ count: Int) throws -> [UnsafeRawBufferPointer] {
        guard count <= remaining else { throw malformed("field of \(count) bytes runs past the message end") }
        var result: [UnsafeRawBufferPointer] = []
        var left = count
        while left > 0 {
            skipEmptySegments()
            let available = segments[segment].count - offset
            let take = min(available, left)
            result.append(UnsafeRawBufferPointer(rebasing: segments[segment][offset..<(offset + take)]))
            offset += take
            left -= take
            remaining -= take
        }
        return result
    }

    /// The next `count` bytes copied into one array (strings, small nested messages).
    mutating func bytes(_ count: Int) throws -> [UInt8] {
        var result: [UInt8] = []
        result.reserveCapacity(count)
        for span in try spans(count) { result.append(contentsOf: span) }
        return result
    }

    /// A length-delimited string field holding an id: valid UTF-8 of at most `maxIdentifierBytes`.
    mutating func identifier(field: String) throws -> String {
        let length = try readLength()
        guard length <= maxIdentifierBytes else {
            throw WireError.invalidField(message: messageName, field: field, expected: "at most \(maxIdentifierBytes) bytes",
                                         found: "\(length) bytes")
        }
        guard let text = String(validating: try bytes(length), as: UTF8.self) else {
            throw WireError.invalidField(message: messageName, field: field, expected: "valid UTF-8", found: "invalid UTF-8 bytes")
        }
        return text
    }

    /// A reader over the next `count` bytes (a nested message); this reader moves past them.
    mutating func nested(_ count: Int, messageName: String) throws -> SegmentedReader {
        guard count <= remaining else { throw malformed("nested message of \(count) bytes runs past the end") }
        skipEmptySegments()
        var inner = self
        inner.remaining = count
        inner = SegmentedReader(copying: inner, messageName: messageName)
        _ = try spans(count)
        return inner
    }

    private init(copying other: SegmentedReader, messageName: String) {
        segments = other.segments
        segment = other.segment
        offset = other.offset
        remaining = other.remaining
        self.messageName = messageName
    }

    /// Skips a field of `wireType` whose tag was just read.
    mutating func skipField(wireType: UInt64) throws {
        switch wireType {
        case 0: _ = try readVarint()
        case 1: _ = try readFixed64()
        case 2: _ = try spans(try readLength())
        case 5: _ = try readFixed32()
        default: throw malformed("unsupported wire type \(wireType)")
        }
    }
}
