import Basics

/// Splits one layer's latent KV rows [tokens, rowWidth] (f32) into chunks of at most
/// `maxChunkBytes` payload bytes on token boundaries (on page boundaries when a page fits),
/// encodes them as f32 or bf16 and checksums each with XXH3. Chunk indices run on across layers.
public final class KVChunker {
    public let requestId: String
    public let modelFingerprint: String
    public let rowWidth: Int
    public let dtype: WireDType
    public let pageSize: Int
    /// Tokens per chunk (all but the last chunk of a layer).
    public let tokensPerChunk: Int
    public private(set) var nextChunkIndex: UInt32 = 0
    public private(set) var payloadBytesProduced: UInt64 = 0
    /// bf16 conversion buffer, reused: [tokensPerChunk, rowWidth] × 2 bytes.
    private var scratch: UnsafeMutableRawPointer?

    /// Default payload limit: 4 MiB (1–4 MiB messages streamed best on loopback).
    public static let defaultMaxChunkBytes = 4 << 20

    public init(requestId: String, modelFingerprint: String, rowWidth: Int, dtype: WireDType = .f32,
                maxChunkBytes: Int = KVChunker.defaultMaxChunkBytes, pageSize: Int = 0) throws {
        guard dtype != .unspecified else { throw WireError.invalidChunking(detail: "dtype must be f32 or bf16, found unspecified") }
        guard rowWidth > 0 else { throw WireError.invalidChunking(detail: "row width must be > 0, found \(rowWidth)") }
        guard pageSize >= 0 else { throw WireError.invalidChunking(detail: "page size must be >= 0, found \(pageSize)") }
        let rowBytes = rowWidth * dtype.byteWidth
        guard maxChunkBytes >= rowBytes else {
            throw WireError.invalidChunking(detail: "max chunk bytes must hold one row of \(rowBytes) bytes, found \(maxChunkBytes)")
        }
        var tokens = maxChunkBytes / rowBytes
        if pageSize > 0 && tokens >= pageSize { tokens -= tokens % pageSize }  // whole pages per chunk
        self.requestId = requestId
        self.modelFingerprint = modelFingerprint
        self.rowWidth = rowWidth
        self.dtype = dtype
        self.pageSize = pageSize
        self.tokensPerChunk = tokens
        if dtype == .bf16 { scratch = UnsafeMutableRawPointer.allocate(byteCount: tokens * rowWidth * 2, alignment: 64) }
    }

    deinit { scratch?.deallocate() }

    /// Token ranges of the chunks of a layer with `tokens` rows.
    public func tokenRanges(tokens: Int) -> [Range<Int>] {
        stride(from: 0, to: tokens, by: tokensPerChunk).map { $0..<min($0 + tokensPerChunk, tokens) }
    }

    /// Calls `body` with each chunk's header and payload bytes (valid only during the call) for
    /// layer `layer`, whose rows are `rows` = [tokens, rowWidth] f32.
    public func forEachChunk(layer: Int, rows: UnsafeBufferPointer<Float>,
                             _ body: (KVChunkHeader, UnsafeRawBufferPointer) throws -> Void) throws {
        guard rows.count % rowWidth == 0 else {
            throw WireError.invalidChunking(detail: "layer rows hold \(rows.count) floats, expected a multiple of row width \(rowWidth)")
        }
        for range in tokenRanges(tokens: rows.count / rowWidth) {
            let source = UnsafeBufferPointer(rebasing: rows[(range.lowerBound * rowWidth)..<(range.upperBound * rowWidth)])
            let payload: UnsafeRawBufferPointer
            switch dtype {
            case .bf16:
                BFloat16.encode(source, into: scratch!)
                payload = UnsafeRawBufferPointer(start: scratch, count: source.count * 2)
            default:
                #if _endian(big)
                #error("KV wire format is little-endian f32; add a byte swap for big-endian hosts")
                #endif
                payload = UnsafeRawBufferPointer(source)
            }
            let header = KVChunkHeader(requestId: requestId, modelFingerprint: modelFingerprint, layer: UInt32(layer),
                                       tokenStart: UInt32(range.lowerBound), tokenCount: UInt32(range.count),
                                       rowWidth: UInt32(rowWidth), dtype: dtype, pageSize: UInt32(pageSize),
                                       chunkIndex: nextChunkIndex, checksum: XXH3.hash64(payload))
            nextChunkIndex += 1
            payloadBytesProduced += UInt64(payload.count)
            try body(header, payload)
        }
    }
}
