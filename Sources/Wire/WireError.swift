/// Everything Wire rejects: malformed bytes and KV chunks that do not match what the receiver expects.
public enum WireError: Error, Equatable, CustomStringConvertible {
    /// Bytes that do not parse as the named protobuf message.
    case malformed(message: String, detail: String)
    /// A field whose value is outside what the message allows (e.g. an unknown dtype number).
    case invalidField(message: String, field: String, expected: String, found: String)
    /// A KV chunk field that differs from what this request expects (request id, fingerprint, ...).
    case mismatch(field: String, expected: String, found: String)
    /// A KV chunk whose payload does not hash to its checksum.
    case checksumMismatch(chunkIndex: UInt32, layer: UInt32, expected: UInt64, found: UInt64)
    /// Chunker arguments that cannot produce chunks.
    case invalidChunking(detail: String)

    public var description: String {
        switch self {
        case let .malformed(message, detail):
            return "malformed \(message) bytes: \(detail)"
        case let .invalidField(message, field, expected, found):
            return "\(message).\(field): expected \(expected), found \(found)"
        case let .mismatch(field, expected, found):
            return "KV chunk \(field) mismatch: expected \(expected), found \(found)"
        case let .checksumMismatch(chunkIndex, layer, expected, found):
            return "KV chunk \(chunkIndex) (layer \(layer)) checksum mismatch: header says "
                + "\(String(expected, radix: 16)), payload hashes to \(String(found, radix: 16))"
        case let .invalidChunking(detail):
            return "invalid KV chunking: \(detail)"
        }
    }
}
