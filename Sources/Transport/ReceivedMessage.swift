import CGRPC

/// A received gRPC message, kept as the slices it arrived in (a 4 MiB message is ~70 slices of
/// ~64 KiB): read them in place with `segments`, or copy with `bytes()`.
public final class ReceivedMessage {
    private var buffer: UnsafeMutablePointer<grpc_byte_buffer>?
    private var reader = grpc_byte_buffer_reader()
    /// The message's bytes in order, valid while this object lives.
    public let segments: [UnsafeRawBufferPointer]
    public let byteCount: Int

    /// Takes ownership of `buffer`.
    init?(taking buffer: UnsafeMutablePointer<grpc_byte_buffer>) {
        guard grpc_byte_buffer_reader_init(&reader, buffer) != 0 else {
            grpc_byte_buffer_destroy(buffer)
            return nil
        }
        self.buffer = buffer
        var found: [UnsafeRawBufferPointer] = []
        var total = 0
        var slice: UnsafeMutablePointer<grpc_slice>?
        while grpc_byte_buffer_reader_peek(&reader, &slice) != 0, let slice {
            let count = cgrpc_slice_length(slice)
            found.append(UnsafeRawBufferPointer(start: cgrpc_slice_start(slice), count: count))
            total += count
        }
        segments = found
        byteCount = total
    }

    deinit {
        grpc_byte_buffer_reader_destroy(&reader)
        if let buffer { grpc_byte_buffer_destroy(buffer) }
    }

    /// The message copied into one array.
    public func bytes() -> [UInt8] {
        var result: [UInt8] = []
        result.reserveCapacity(byteCount)
        for segment in segments { result.append(contentsOf: segment) }
        return result
    }
}

/// Outgoing message buffers: one fresh byte buffer per SEND_MESSAGE (gRPC takes its slices).
enum OutgoingBuffer {
    /// A byte buffer of `byteCount` bytes written by `fill` straight into the slice's memory.
    static func make(byteCount: Int, fill: (UnsafeMutableRawPointer?) throws -> Void) rethrows -> UnsafeMutablePointer<grpc_byte_buffer> {
        var slice = grpc_slice_malloc(byteCount)
        defer { grpc_slice_unref(slice) }
        try fill(byteCount == 0 ? nil : UnsafeMutableRawPointer(cgrpc_slice_start(&slice)))
        return grpc_raw_byte_buffer_create(&slice, 1)
    }

    static func make(_ bytes: [UInt8]) -> UnsafeMutablePointer<grpc_byte_buffer> {
        make(byteCount: bytes.count) { destination in
            if let destination { bytes.withUnsafeBytes { destination.copyMemory(from: $0.baseAddress!, byteCount: $0.count) } }
        }
    }
}
