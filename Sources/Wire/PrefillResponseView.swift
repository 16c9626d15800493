/// A KV chunk read in place from a received message: header fields decoded, payload left as
/// spans into the message's segments (valid while the message is).
public struct KVChunkView {
    public var header: KVChunkHeader
    /// Payload bytes in order, possibly split at arbitrary byte boundaries.
    public var payload: [UnsafeRawBufferPointer]

    public var payloadByteCount: Int { payload.reduce(0) { $0 + $1.count } }

    public init(header: KVChunkHeader, payload: [UnsafeRawBufferPointer]) {
        self.header = header
        self.payload = payload
    }
}

/// A PrefillResponse parsed from a segmented message without copying its KV payload: the
/// receive hot path. Reads the same wire format protobuf-c packs (fields in any order, unknown
/// fields skipped, the last oneof member wins).
public enum PrefillResponseView {
    case chunk(KVChunkView)
    case done(PrefillDone)

    public static func parse(segments: [UnsafeRawBufferPointer]) throws -> PrefillResponseView {
        var reader = SegmentedReader(segments: segments, messageName: "PrefillResponse")
        var result: PrefillResponseView?
        while !reader.isAtEnd {
            let (field, wireType) = try reader.readTag()
            switch (field, wireType) {
            case (1, 2):
                var inner = try reader.nested(try reader.readLength(), messageName: "KVChunk")
                result = .chunk(try parseChunk(&inner))
            case (2, 2):
                let bytes = try reader.bytes(try reader.readLength())
                result = .done(try bytes.withUnsafeBytes { try PrefillDone(decodingInner: $0) })
            case (1, _), (2, _):
                throw WireError.malformed(message: "PrefillResponse", detail: "field \(field) has wire type \(wireType), expected 2")
            default:
                try reader.skipField(wireType: wireType)
            }
        }
        guard let result else {
            throw WireError.invalidField(message: "PrefillResponse", field: "kind", expected: "chunk or done", found: "neither")
        }
        return result
    }

    public static func parse(bytes: UnsafeRawBufferPointer) throws -> PrefillResponseView {
        try parse(segments: [bytes])
    }

    private static func parseChunk(_ reader: inout SegmentedReader) throws -> KVChunkView {
        var header = KVChunkHeader(requestId: "", modelFingerprint: "", layer: 0, tokenStart: 0, tokenCount: 0,
                                   rowWidth: 0, dtype: .unspecified, pageSize: 0, chunkIndex: 0, checksum: 0)
        var payload: [UnsafeRawBufferPointer] = []
        while !reader.isAtEnd {
            let (field, wireType) = try reader.readTag()
            let expectedWireType: UInt64
            switch field {
            case 1, 2, 15: expectedWireType = 2
            case 10: expectedWireType = 1
            case 3...9: expectedWireType = 0
            default:
                try reader.skipField(wireType: wireType)
                continue
            }
            guard wireType == expectedWireType else {
                throw WireError.malformed(message: "KVChunk",
                                          detail: "field \(field) has wire type \(wireType), expected \(expectedWireType)")
            }
            switch field {
            case 1: header.requestId = try reader.identifier(field: "request_id")
            case 2: header.modelFingerprint = try reader.identifier(field: "model_fingerprint")
            case 3: header.layer = UInt32(truncatingIfNeeded: try reader.readVarint())
            case 4: header.tokenStart = UInt32(truncatingIfNeeded: try reader.readVarint())
            case 5: header.tokenCount = UInt32(truncatingIfNeeded: try reader.readVarint())
            case 6: header.rowWidth = UInt32(truncatingIfNeeded: try reader.readVarint())
            case 7:
                let raw = try reader.readVarint()
                guard let dtype = WireDType(rawValue: Int32(truncatingIfNeeded: raw)), raw <= 2 else {
                    throw WireError.invalidField(message: "KVChunk", field: "dtype",
                                                 expected: "0 (unspecified), 1 (f32) or 2 (bf16)", found: "\(raw)")
                }
                header.dtype = dtype
            case 8: header.pageSize = UInt32(truncatingIfNeeded: try reader.readVarint())
            case 9: header.chunkIndex = UInt32(truncatingIfNeeded: try reader.readVarint())
            case 10: header.checksum = try reader.readFixed64()
            default: payload = try reader.spans(try reader.readLength())  // 15
            }
        }
        return KVChunkView(header: header, payload: payload)
    }
}
