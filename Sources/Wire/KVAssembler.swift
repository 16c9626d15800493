import Basics

/// What a receiver expects of every KV chunk of one request.
public struct KVExpectation: Equatable, Sendable {
    public var requestId: String
    public var modelFingerprint: String
    public var dtype: WireDType
    public var pageSize: UInt32
    public var rowWidth: Int
    public var layers: Int
    public var tokens: Int

    public init(requestId: String, modelFingerprint: String, dtype: WireDType, pageSize: UInt32, rowWidth: Int,
                layers: Int, tokens: Int) {
        self.requestId = requestId
        self.modelFingerprint = modelFingerprint
        self.dtype = dtype
        self.pageSize = pageSize
        self.rowWidth = rowWidth
        self.layers = layers
        self.tokens = tokens
    }
}

/// Verifies the KV chunks of one request in stream order (request id, fingerprint, dtype, page
/// size, row width, chunk index, layer/token order, payload size, checksum) without writing
/// them anywhere. Chunks must arrive layer by layer, tokens ascending.
public final class KVChunkVerifier {
    public let expectation: KVExpectation
    private var nextLayer = 0
    private var nextToken = 0
    public private(set) var chunksAccepted: UInt32 = 0
    public private(set) var payloadBytesAccepted: UInt64 = 0

    public init(expecting expectation: KVExpectation) { self.expectation = expectation }

    /// True once every row of every layer was accepted.
    public var isComplete: Bool { nextLayer == expectation.layers || expectation.tokens == 0 }

    /// Checks `chunk` against the expectation and the stream position; throws WireError naming
    /// the field, what was expected and what was found. Does not advance.
    public func check(_ chunk: KVChunkView) throws {
        let h = chunk.header
        let e = expectation
        try Self.require("request_id", h.requestId, e.requestId)
        try Self.require("model_fingerprint", h.modelFingerprint, e.modelFingerprint)
        try Self.require("dtype", h.dtype, e.dtype)
        try Self.require("page_size", h.pageSize, e.pageSize)
        try Self.require("row_width", Int(h.rowWidth), e.rowWidth)
        try Self.require("chunk_index", h.chunkIndex, chunksAccepted)
        guard nextLayer < e.layers else {
            throw WireError.mismatch(field: "layer", expected: "no more chunks after \(e.layers) layers", found: "\(h.layer)")
        }
        try Self.require("layer", Int(h.layer), nextLayer)
        try Self.require("token_start", Int(h.tokenStart), nextToken)
        guard h.tokenCount > 0, Int(h.tokenStart) + Int(h.tokenCount) <= e.tokens else {
            throw WireError.mismatch(field: "token_count", expected: "1...\(e.tokens - nextToken)", found: "\(h.tokenCount)")
        }
        try Self.require("payload bytes", chunk.payloadByteCount, h.expectedPayloadBytes)
        let hash = XXH3.hash64(segments: chunk.payload)
        guard hash == h.checksum else {
            throw WireError.checksumMismatch(chunkIndex: h.chunkIndex, layer: h.layer, expected: h.checksum, found: hash)
        }
    }

    /// Checks `chunk`, then moves the stream position past it.
    public func accept(_ chunk: KVChunkView) throws {
        try check(chunk)
        advance(past: chunk)
    }

    /// Moves the stream position past a chunk `check` passed.
    func advance(past chunk: KVChunkView) {
        chunksAccepted += 1
        payloadBytesAccepted += UInt64(chunk.payloadByteCount)
        nextToken += Int(chunk.header.tokenCount)
        if nextToken == expectation.tokens {
            nextLayer += 1
            nextToken = 0
        }
    }

    /// Checks the final message against what arrived.
    public func finish(_ done: PrefillDone) throws {
        guard isComplete else {
            throw WireError.mismatch(field: "rows received",
                                     expected: "\(expectation.layers) layers × \(expectation.tokens) tokens",
                                     found: "stream ended at layer \(nextLayer) token \(nextToken)")
        }
        try Self.require("PrefillDone.chunks", UInt64(done.chunks), UInt64(chunksAccepted))
        try Self.require("PrefillDone.total_payload_bytes", done.totalPayloadBytes, payloadBytesAccepted)
        try Self.require("PrefillDone.layers", UInt64(done.layers), UInt64(expectation.layers))
        try Self.require("PrefillDone.tokens", UInt64(done.tokens), UInt64(expectation.tokens))
    }

    static func require<T: Equatable>(_ field: String, _ found: T, _ expected: T) throws {
        guard found == expected else { throw WireError.mismatch(field: field, expected: "\(expected)", found: "\(found)") }
    }
}

/// Verifies each KV chunk of one request completely (KVChunkVerifier) and only then writes its
/// rows where `destination` says, as f32 or as bf16 (`storedAs`) whatever the wire carries; a
/// rejected chunk writes nothing.
public final class KVAssembler {
    /// Returns writable rows starting at `tokenStart` of `layer`: [n, rowWidth] f32 with
    /// 1 ≤ n ≤ maxTokens (a paged cache may hand out one page at a time).
    public typealias Destination = (_ layer: Int, _ tokenStart: Int, _ maxTokens: Int) throws -> UnsafeMutableBufferPointer<Float>
    /// Destination's raw form: the bytes of [n, rowWidth] elements of the assembler's `storedAs` dtype.
    public typealias RawDestination = (_ layer: Int, _ tokenStart: Int, _ maxTokens: Int) throws -> UnsafeMutableRawBufferPointer

    private let verifier: KVChunkVerifier
    private let destination: RawDestination
    /// What the destination holds: .f32, or .bf16 (rows from an f32 wire rounded as KVChunker rounds them).
    public let storedAs: WireDType
    /// Payloads split across segments are joined here first when they need converting (reused).
    private var joinBuffer: [UInt8] = []

    public convenience init(expecting expectation: KVExpectation, destination: @escaping Destination) {
        self.init(expecting: expectation, storedAs: .f32) { layer, start, maxTokens in
            UnsafeMutableRawBufferPointer(try destination(layer, start, maxTokens))
        }
    }

    public init(expecting expectation: KVExpectation, storedAs: WireDType, rawDestination: @escaping RawDestination) {
        precondition(storedAs.byteWidth > 0, "KVAssembler stores f32 or bf16, not \(storedAs)")
        verifier = KVChunkVerifier(expecting: expectation)
        self.storedAs = storedAs
        self.destination = rawDestination
    }

    public var expectation: KVExpectation { verifier.expectation }
    public var isComplete: Bool { verifier.isComplete }
    public var chunksReceived: UInt32 { verifier.chunksAccepted }
    public var payloadBytesReceived: UInt64 { verifier.payloadBytesAccepted }

    public func accept(_ chunk: KVChunk) throws {
        try chunk.payload.withUnsafeBytes { try accept(KVChunkView(header: chunk.header, payload: [$0])) }
    }

    /// Verifies `chunk` completely, then writes its rows. Throws WireError without writing on any mismatch.
    public func accept(_ chunk: KVChunkView) throws {
        try verifier.check(chunk)
        try write(chunk)
        verifier.advance(past: chunk)
    }

    /// Checks the final message against what arrived.
    public func finish(_ done: PrefillDone) throws { try verifier.finish(done) }

    private func write(_ chunk: KVChunkView) throws {
        let h = chunk.header
        let width = expectation.rowWidth, stored = storedAs.byteWidth, wire = h.dtype.byteWidth
        let converts = h.dtype != storedAs
        var copier = SpanCopier(spans: chunk.payload)
        if converts && chunk.payload.count > 1 {
            joinBuffer.removeAll(keepingCapacity: true)
            for span in chunk.payload { joinBuffer.append(contentsOf: span) }
        }
        var token = Int(h.tokenStart)
        let end = token + Int(h.tokenCount)
        var wireOffset = 0
        while token < end {
            let rows = try destination(Int(h.layer), token, end - token)
            let n = rows.count / (width * stored)
            guard n >= 1, n <= end - token, rows.count % (width * stored) == 0, let base = rows.baseAddress else {
                throw WireError.mismatch(field: "destination rows", expected: "1...\(end - token) rows of \(width) \(storedAs) values",
                                         found: "\(rows.count) bytes")
            }
            if !converts {
                copier.copy(into: base, count: n * width * stored)
            } else if chunk.payload.count > 1 {
                joinBuffer.withUnsafeBytes { convert($0.baseAddress! + wireOffset, count: n * width, into: base) }
            } else {
                convert(chunk.payload[0].baseAddress! + wireOffset, count: n * width, into: base)
            }
            wireOffset += n * width * wire
            token += n
        }
    }

    /// `count` wire values at `source` (the other dtype, any alignment) into the destination's dtype.
    private func convert(_ source: UnsafeRawPointer, count: Int, into destination: UnsafeMutableRawPointer) {
        if storedAs == .f32 {
            BFloat16.decode(source, count: count, into: destination.assumingMemoryBound(to: Float.self))
        } else {
            BFloat16.encode(unalignedFloats: source, count: count, into: destination)
        }
    }
}

/// Copies a byte stream held in spans into destinations of any size, in order.
struct SpanCopier {
    private let spans: [UnsafeRawBufferPointer]
    private var index = 0
    private var offset = 0

    init(spans: [UnsafeRawBufferPointer]) { self.spans = spans }

    mutating func copy(into destination: UnsafeMutableRawPointer, count: Int) {
        var written = 0
        while written < count {
            let span = spans[index]
            let take = min(span.count - offset, count - written)
            if take > 0 { (destination + written).copyMemory(from: span.baseAddress! + offset, byteCount: take) }
            written += take
            offset += take
            if offset == span.count {
                index += 1
                offset = 0
            }
        }
    }
}
