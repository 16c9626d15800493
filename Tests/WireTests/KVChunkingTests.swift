import Basics
import Wire
import XCTest
import TestSupport

/// Chunker → wire → assembler: rows arrive byte-exact; every mismatch is rejected before writing.
final class KVChunkingTests: XCTestCase {
    let rowWidth = 9
    let tokens = 50
    let layers = 3

    func makeLayer(_ layer: Int) -> [Float] {  // [tokens, rowWidth]
        (0..<(tokens * rowWidth)).map { Float($0) * 0.001 + Float(layer) - 0.5 }
    }

    func expectation(dtype: WireDType = .f32) -> KVExpectation {
        KVExpectation(requestId: "r1", modelFingerprint: "fp", dtype: dtype, pageSize: 4, rowWidth: rowWidth,
                      layers: layers, tokens: tokens)
    }

    /// Encoded PrefillResponse messages for all layers.
    func encodedChunks(dtype: WireDType = .f32, maxChunkBytes: Int = 400) throws -> ([[UInt8]], KVChunker) {
        let chunker = try KVChunker(requestId: "r1", modelFingerprint: "fp", rowWidth: rowWidth, dtype: dtype,
                                    maxChunkBytes: maxChunkBytes, pageSize: 4)
        var messages: [[UInt8]] = []
        for layer in 0..<layers {
            try makeLayer(layer).withUnsafeBufferPointer { rows in
                try chunker.forEachChunk(layer: layer, rows: rows) { header, payload in
                    XCTAssertLessThanOrEqual(payload.count, maxChunkBytes)
                    messages.append(PrefillResponse.withChunkEncoder(header: header, payload: payload) { encoder in
                        var bytes = [UInt8](repeating: 0, count: encoder.byteCount)
                        bytes.withUnsafeMutableBytes { _ = encoder.encode(into: $0.baseAddress!) }
                        return bytes
                    })
                }
            }
        }
        return (messages, chunker)
    }

    /// Destination: a [layers, tokens, rowWidth] array handed out at most 3 rows at a time (paged).
    func assembler(_ cache: UnsafeMutableBufferPointer<Float>, dtype: WireDType = .f32) -> KVAssembler {
        KVAssembler(expecting: expectation(dtype: dtype)) { [rowWidth, tokens] layer, start, maxTokens in
            let n = min(3, maxTokens)
            let offset = (layer * tokens + start) * rowWidth
            return UnsafeMutableBufferPointer(rebasing: cache[offset..<(offset + n * rowWidth)])
        }
    }

    func feed(_ messages: [[UInt8]], into assembler: KVAssembler) throws {
        for message in messages {
            try message.withUnsafeBytes { bytes in
                guard case let .chunk(view) = try PrefillResponseView.parse(bytes: bytes) else { return XCTFail() }
                try assembler.accept(view)
            }
        }
    }

    func testChunksStartOnPageBoundaries() throws {
        let chunker = try KVChunker(requestId: "r", modelFingerprint: "f", rowWidth: rowWidth, maxChunkBytes: 400, pageSize: 4)
        XCTAssertEqual(chunker.tokensPerChunk, 8)  // 400 / 36 = 11 rows, down to 2 whole pages
        XCTAssertEqual(chunker.tokenRanges(tokens: 20), [0..<8, 8..<16, 16..<20])
        XCTAssertThrowsError(try KVChunker(requestId: "r", modelFingerprint: "f", rowWidth: 9, maxChunkBytes: 35))
    }

    func testF32RowsArriveExactly() throws {
        let (messages, chunker) = try encodedChunks()
        var cache = [Float](repeating: .nan, count: layers * tokens * rowWidth)
        try cache.withUnsafeMutableBufferPointer { buffer in
            let assembler = assembler(buffer)
            try feed(messages, into: assembler)
            XCTAssertTrue(assembler.isComplete)
            try assembler.finish(PrefillDone(firstToken: 0, firstTokenLogprob: 0,
                                             totalPayloadBytes: chunker.payloadBytesProduced, tokens: UInt32(tokens),
                                             layers: UInt32(layers), prefillSeconds: 0, pcpRanks: 1,
                                             chunks: chunker.nextChunkIndex))
        }
        assertBitIdentical(cache, (0..<layers).flatMap { makeLayer($0) }, "f32 rows")
    }

    func testBF16RowsArriveRounded() throws {
        let (messages, _) = try encodedChunks(dtype: .bf16)
        var cache = [Float](repeating: .nan, count: layers * tokens * rowWidth)
        try cache.withUnsafeMutableBufferPointer { try feed(messages, into: assembler($0, dtype: .bf16)) }
        let expected = (0..<layers).flatMap { makeLayer($0) }.map { BFloat16.float(from: BFloat16.bits(from: $0)) }
        assertBitIdentical(cache, expected, "bf16 rows")
    }

    /// A bf16 destination (decode's bf16 cache): from an f32 wire the rows are rounded as KVChunker
    /// rounds them for a bf16 wire, and a bf16 wire's bits arrive as they are — the same bits either
    /// way, also when each message's payload arrives split across segments at odd byte offsets.
    func testBF16DestinationGetsTheWireRoundingFromEitherWire() throws {
        let expected = (0..<layers).flatMap { makeLayer($0) }.map { BFloat16.bits(from: $0) }
        for wire in [WireDType.f32, .bf16] {
            let (messages, _) = try encodedChunks(dtype: wire)
            for cuts in [[], [7, 101]] {
                var cache = [UInt16](repeating: 0xFFFF, count: layers * tokens * rowWidth)
                try cache.withUnsafeMutableBytes { bytes in
                    let base = bytes
                    let assembler = KVAssembler(expecting: expectation(dtype: wire), storedAs: .bf16) { [rowWidth, tokens] layer, start, maxTokens in
                        let n = min(3, maxTokens), offset = (layer * tokens + start) * rowWidth
                        return UnsafeMutableRawBufferPointer(rebasing: base[2 * offset..<2 * (offset + n * rowWidth)])
                    }
                    for message in messages {
                        try message.withUnsafeBytes { all in
                            // The payload is the message's tail: cut it there.
                            let bounds = [0] + cuts.map { all.count - 1 - $0 } .sorted() + [all.count]
                            let segments = zip(bounds, bounds.dropFirst()).map { UnsafeRawBufferPointer(rebasing: all[$0..<$1]) }
                            guard case let .chunk(view) = try PrefillResponseView.parse(segments: segments) else { return XCTFail() }
                            try assembler.accept(view)
                        }
                    }
                    XCTAssertTrue(assembler.isComplete)
                }
                XCTAssertEqual(cache, expected, "\(wire) wire, cuts \(cuts)")
            }
        }
    }

    func testCorruptedPayloadIsRejectedUnwritten() throws {
        var (messages, _) = try encodedChunks()
        messages[1][messages[1].count - 5] ^= 0x40  // a payload byte near the end
        var cache = [Float](repeating: 0, count: layers * tokens * rowWidth)
        try cache.withUnsafeMutableBufferPointer { buffer in
            let assembler = assembler(buffer)
            try feed([messages[0]], into: assembler)
            XCTAssertThrowsError(try feed([messages[1]], into: assembler)) { error in
                guard case .checksumMismatch(chunkIndex: 1, layer: 0, _, _) = error as? WireError else {
                    return XCTFail("expected a checksum mismatch, got \(error)")
                }
            }
        }
        // Chunk 1 covers tokens 8..<16 of layer 0: still zero.
        XCTAssertTrue(cache[(8 * rowWidth)..<(16 * rowWidth)].allSatisfy { $0 == 0 })
    }

    func testMismatchedHeadersAreRejected() throws {
        let (messages, _) = try encodedChunks()
        let cases: [(KVExpectation, String)] = [
            (KVExpectation(requestId: "r1", modelFingerprint: "other", dtype: .f32, pageSize: 4, rowWidth: rowWidth,
                           layers: layers, tokens: tokens), "model_fingerprint"),
            (KVExpectation(requestId: "r2", modelFingerprint: "fp", dtype: .f32, pageSize: 4, rowWidth: rowWidth,
                           layers: layers, tokens: tokens), "request_id"),
            (KVExpectation(requestId: "r1", modelFingerprint: "fp", dtype: .bf16, pageSize: 4, rowWidth: rowWidth,
                           layers: layers, tokens: tokens), "dtype"),
            (KVExpectation(requestId: "r1", modelFingerprint: "fp", dtype: .f32, pageSize: 8, rowWidth: rowWidth,
                           layers: layers, tokens: tokens), "page_size"),
        ]
        for (expectation, field) in cases {
            var written = false
            let assembler = KVAssembler(expecting: expectation) { _, _, _ in
                written = true
                return UnsafeMutableBufferPointer(start: nil, count: 0)
            }
            XCTAssertThrowsError(try feed([messages[0]], into: assembler)) { error in
                guard case let .mismatch(found, _, _) = error as? WireError else { return XCTFail("\(error)") }
                XCTAssertEqual(found, field)
                XCTAssertTrue(String(describing: error).contains(field))
            }
            XCTAssertFalse(written, "\(field) mismatch wrote rows")
        }
    }

    func testVerifierAcceptsAWholeStreamWithoutWriting() throws {
        let (messages, chunker) = try encodedChunks()
        let verifier = KVChunkVerifier(expecting: expectation())
        for message in messages {
            try message.withUnsafeBytes { bytes in
                guard case let .chunk(view) = try PrefillResponseView.parse(bytes: bytes) else { return XCTFail() }
                try verifier.accept(view)
            }
        }
        XCTAssertTrue(verifier.isComplete)
        XCTAssertEqual(verifier.chunksAccepted, chunker.nextChunkIndex)
        XCTAssertEqual(verifier.payloadBytesAccepted, chunker.payloadBytesProduced)
        // One more chunk after the last layer is refused.
        try messages[0].withUnsafeBytes { bytes in
            guard case let .chunk(view) = try PrefillResponseView.parse(bytes: bytes) else { return XCTFail() }
            XCTAssertThrowsError(try verifier.accept(view))
        }
    }

    func testOutOfOrderAndShortStreamsAreRejected() throws {
        let (messages, _) = try encodedChunks()
        var cache = [Float](repeating: 0, count: layers * tokens * rowWidth)
        try cache.withUnsafeMutableBufferPointer { buffer in
            let skipping = assembler(buffer)
            XCTAssertThrowsError(try feed([messages[1]], into: skipping))  // chunk 1 before chunk 0
            let short = assembler(buffer)
            try feed(Array(messages.prefix(2)), into: short)
            XCTAssertThrowsError(try short.finish(PrefillDone(firstToken: 0, firstTokenLogprob: 0, totalPayloadBytes: 0,
                                                              tokens: UInt32(tokens), layers: UInt32(layers),
                                                              prefillSeconds: 0, pcpRanks: 1, chunks: 2)))
        }
    }
}
