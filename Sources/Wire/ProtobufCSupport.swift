import CProtobufC
#if canImport(Glibc)
import Glibc
#endif

/// Owns the C memory (strings, arrays, nested structs) a protobuf-c struct points into while it is
/// packed; everything is freed when the arena goes away.
final class CArena {
    private var blocks: [UnsafeMutableRawPointer] = []

    deinit { for block in blocks { free(block) } }

    func string(_ value: String) -> UnsafeMutablePointer<CChar> {
        let copy = strdup(value)!
        blocks.append(UnsafeMutableRawPointer(copy))
        return copy
    }

    /// A C copy of `values` (nil when empty: protobuf-c reads no element then).
    func array<T>(_ values: [T]) -> UnsafeMutablePointer<T>? {
        guard !values.isEmpty else { return nil }
        let raw = malloc(MemoryLayout<T>.stride * values.count)!
        blocks.append(raw)
        let typed = raw.bindMemory(to: T.self, capacity: values.count)
        typed.initialize(from: values, count: values.count)
        return typed
    }

    /// A heap copy of one C struct (for nested message pointers).
    func object<T>(_ value: T) -> UnsafeMutablePointer<T> {
        let raw = malloc(MemoryLayout<T>.stride)!
        blocks.append(raw)
        let typed = raw.bindMemory(to: T.self, capacity: 1)
        typed.initialize(to: value)
        return typed
    }
}

/// A packable protobuf-c message, valid only inside the closure that hands it out.
public struct MessageEncoder {
    let message: UnsafePointer<ProtobufCMessage>

    /// Exact size of the encoded message in bytes.
    public var byteCount: Int { protobuf_c_message_get_packed_size(message) }

    /// Writes the encoded message to `destination` (at least `byteCount` bytes); returns bytes written.
    @discardableResult
    public func encode(into destination: UnsafeMutableRawPointer) -> Int {
        protobuf_c_message_pack(message, destination.assumingMemoryBound(to: UInt8.self))
    }

    /// The encoding as pieces in order: small ones copied, byte fields of at least
    /// `borrowThreshold` bytes referenced where they lie (valid only as long as the memory the
    /// message was built from, e.g. inside `PrefillResponse.withChunkEncoder`).
    public func encodePieces(borrowThreshold: Int = 64 << 10) -> [EncodedPiece] {
        let collector = PieceCollector(borrowThreshold: borrowThreshold)
        withExtendedLifetime(collector) {
            _ = cprotobufc_pack_to_sink(message, Unmanaged.passUnretained(collector).toOpaque()) { context, length, data in
                Unmanaged<PieceCollector>.fromOpaque(context!).takeUnretainedValue().append(length, data)
            }
        }
        return collector.finish()
    }
}

/// One piece of an encoded message: bytes copied out, or a reference to bytes owned elsewhere.
public enum EncodedPiece {
    case copied([UInt8])
    case borrowed(UnsafeRawBufferPointer)
}

/// Gathers protobuf-c's pieces: coalesces small ones, keeps large ones by reference.
final class PieceCollector {
    private let borrowThreshold: Int
    private var pieces: [EncodedPiece] = []
    private var pending: [UInt8] = []

    init(borrowThreshold: Int) { self.borrowThreshold = borrowThreshold }

    func append(_ length: Int, _ data: UnsafePointer<UInt8>?) {
        guard length > 0, let data else { return }
        if length >= borrowThreshold {
            if !pending.isEmpty { pieces.append(.copied(pending)) }
            pending = []
            pieces.append(.borrowed(UnsafeRawBufferPointer(start: data, count: length)))
        } else {
            pending.append(contentsOf: UnsafeBufferPointer(start: data, count: length))
        }
    }

    func finish() -> [EncodedPiece] {
        if !pending.isEmpty { pieces.append(.copied(pending)) }
        return pieces
    }
}

/// A Swift value mirroring one protobuf message: encodes through protobuf-c pack and decodes
/// through protobuf-c unpack (malformed bytes throw WireError, never crash).
public protocol WireMessage {
    /// Decodes the encoded message in `bytes`.
    init(decoding bytes: UnsafeRawBufferPointer) throws
    /// Builds the protobuf-c struct and hands an encoder for it to `body`.
    func withEncoder<R>(_ body: (MessageEncoder) throws -> R) rethrows -> R
}

extension WireMessage {
    /// The encoded message.
    public func encoded() -> [UInt8] {
        withEncoder { encoder in
            let count = encoder.byteCount
            return [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
                initialized = count == 0 ? 0 : encoder.encode(into: buffer.baseAddress!)
            }
        }
    }

    public init(decoding bytes: [UInt8]) throws {
        self = try bytes.withUnsafeBytes { try Self(decoding: $0) }
    }
}

/// Unpacks `bytes` with the generated `unpack`, converts the C struct, frees it.
func unpackMessage<C, R>(
    _ name: String, _ bytes: UnsafeRawBufferPointer,
    unpack: (UnsafeMutablePointer<ProtobufCAllocator>?, Int, UnsafePointer<UInt8>?) -> UnsafeMutablePointer<C>?,
    free freeUnpacked: (UnsafeMutablePointer<C>?, UnsafeMutablePointer<ProtobufCAllocator>?) -> Void,
    convert: (C) throws -> R
) throws -> R {
    var empty: UInt8 = 0
    let parsed: UnsafeMutablePointer<C>? = withUnsafePointer(to: &empty) { emptyPointer in
        let base = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self) ?? emptyPointer
        return unpack(nil, bytes.count, base)
    }
    guard let parsed else {
        throw WireError.malformed(message: name, detail: "protobuf-c could not unpack \(bytes.count) bytes")
    }
    defer { freeUnpacked(parsed, nil) }
    return try convert(parsed.pointee)
}

/// Hands the struct's ProtobufCMessage header to `body` as an encoder.
func withEncoderFor<C, R>(_ value: inout C, _ body: (MessageEncoder) throws -> R) rethrows -> R {
    try withUnsafeMutablePointer(to: &value) { pointer in
        try pointer.withMemoryRebound(to: ProtobufCMessage.self, capacity: 1) {
            try body(MessageEncoder(message: UnsafePointer($0)))
        }
    }
}

/// Longest id (request ids, fingerprints, service names) a message may carry: ids are echoed in
/// every response and kept in the stats, so one oversized id must not bloat them for everyone.
public let maxIdentifierBytes = 256

/// A string field from untrusted bytes: valid UTF-8 (proto3 requires it) and at most `maxBytes`
/// bytes, or a typed error naming `message.field` — never a repaired or truncated copy.
func checkedString(_ pointer: UnsafeMutablePointer<CChar>?, message: String, field: String,
                   maxBytes: Int = maxIdentifierBytes) throws -> String {
    guard let pointer else { return "" }
    let length = strnlen(pointer, maxBytes + 1)
    guard length <= maxBytes else {
        throw WireError.invalidField(message: message, field: field, expected: "at most \(maxBytes) bytes",
                                     found: "\(strlen(pointer)) bytes")
    }
    let bytes = UnsafeRawBufferPointer(start: pointer, count: length)
    guard let text = String(validating: bytes, as: UTF8.self) else {
        throw WireError.invalidField(message: message, field: field, expected: "valid UTF-8", found: "invalid UTF-8 bytes")
    }
    return text
}

func swiftArray<T>(_ pointer: UnsafeMutablePointer<T>?, _ count: Int) -> [T] {
    guard let pointer, count > 0 else { return [] }
    return Array(UnsafeBufferPointer(start: pointer, count: count))
}
