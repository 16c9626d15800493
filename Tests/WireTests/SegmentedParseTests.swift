import Wire
import XCTest

/// The in-place parser reads exactly what protobuf-c packs, whatever the slice boundaries.
final class SegmentedParseTests: XCTestCase {
    /// Splits `bytes` at the given cut points and parses the pieces.
    func parse(_ bytes: [UInt8], cuts: [Int]) throws -> (KVChunkHeader, [UInt8])? {
        try bytes.withUnsafeBytes { all in
            var segments: [UnsafeRawBufferPointer] = []
            var start = 0
            for cut in (cuts + [bytes.count]).sorted() where cut >= start {
                segments.append(UnsafeRawBufferPointer(rebasing: all[start..<cut]))
                start = cut
            }
            guard case let .chunk(view) = try PrefillResponseView.parse(segments: segments) else { return nil }
            return (view.header, view.payload.flatMap { Array($0) })
        }
    }

    func testMatchesProtobufCAtEverySplit() throws {
        let header = KVChunkHeader(requestId: "request-with-a-long-id", modelFingerprint: "fingerprint",
                                   layer: 300, tokenStart: 70_000, tokenCount: 3, rowWidth: 5, dtype: .bf16, pageSize: 16,
                                   chunkIndex: 1_000_000, checksum: 0xFEDC_BA98_7654_3210)
        let payload = (0..<30).map { UInt8(truncatingIfNeeded: $0 &* 37) }
        let bytes = PrefillResponse.chunk(KVChunk(header: header, payload: payload)).encoded()
        // Single cuts at every position, then one-byte segments throughout.
        for cut in 0...bytes.count {
            let parsed = try XCTUnwrap(try parse(bytes, cuts: [cut]))
            XCTAssertEqual(parsed.0, header)
            XCTAssertEqual(parsed.1, payload)
        }
        let parsed = try XCTUnwrap(try parse(bytes, cuts: Array(0..<bytes.count)))
        XCTAssertEqual(parsed.0, header)
        XCTAssertEqual(parsed.1, payload)
    }

    func testDoneMessageParsesInPlace() throws {
        let done = PrefillDone(firstToken: 7, firstTokenLogprob: -0.1, totalPayloadBytes: 99, tokens: 3, layers: 2,
                               prefillSeconds: 0.5, pcpRanks: 1, chunks: 4)
        let bytes = PrefillResponse.done(done).encoded()
        let view = try bytes.withUnsafeBytes { try PrefillResponseView.parse(bytes: $0) }
        guard case let .done(parsed) = view else { return XCTFail("expected done, got \(view)") }
        XCTAssertEqual(parsed, done)
    }

    func testTruncatedChunkThrowsAtEveryLength() throws {
        let header = KVChunkHeader(requestId: "r", modelFingerprint: "f", layer: 1, tokenStart: 0, tokenCount: 1,
                                   rowWidth: 4, dtype: .f32, pageSize: 0, chunkIndex: 0, checksum: 1)
        let bytes = PrefillResponse.chunk(KVChunk(header: header, payload: [UInt8](repeating: 1, count: 16))).encoded()
        for length in 1..<bytes.count {
            XCTAssertThrowsError(try Array(bytes[0..<length]).withUnsafeBytes { try PrefillResponseView.parse(bytes: $0) },
                                 "prefix of \(length) bytes parsed")
        }
    }
}
