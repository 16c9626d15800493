import Wire
import XCTest

/// String fields from untrusted bytes are valid UTF-8 of bounded length, or a typed error naming
/// the field — never a repaired or truncated copy (an outside probe got `\xff\xfe\0bad` echoed
/// back mangled, and two 40 MiB ids broke every Stats reply).
final class UntrustedStringTests: XCTestCase {
    /// GenerateRequest bytes by hand: field 1 (packed token ids) = [5], field 4 = `id` as raw bytes.
    private func generateRequest(clientID id: [UInt8]) -> [UInt8] {
        var bytes: [UInt8] = [0x0A, 0x01, 0x05]           // field 1, length 1, varint 5
        bytes += [0x22] + varint(id.count) + id             // field 4, length-delimited
        return bytes
    }

    private func varint(_ n: Int) -> [UInt8] {
        var n = UInt64(n), out: [UInt8] = []
        repeat {
            out.append(UInt8(n & 0x7F) | (n >= 0x80 ? 0x80 : 0))
            n >>= 7
        } while n > 0
        return out
    }

    private func decode(_ bytes: [UInt8]) throws -> GenerateRequest {
        try bytes.withUnsafeBytes { try GenerateRequest(decoding: $0) }
    }

    private func assertInvalidField(_ bytes: [UInt8], expected: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try decode(bytes), file: file, line: line) { error in
            guard case let WireError.invalidField(message, field, want, _) = error else {
                return XCTFail("expected invalidField, got \(error)", file: file, line: line)
            }
            XCTAssertEqual(message, "GenerateRequest", file: file, line: line)
            XCTAssertEqual(field, "client_request_id", file: file, line: line)
            XCTAssertEqual(want, expected, file: file, line: line)
        }
    }

    func testIdsUpToTheBoundAndValidUTF8Pass() throws {
        let longest = [UInt8](repeating: UInt8(ascii: "a"), count: maxIdentifierBytes)
        XCTAssertEqual(try decode(generateRequest(clientID: longest)).clientRequestId, String(repeating: "a", count: maxIdentifierBytes))
        let text = "请求-🙂-é"
        XCTAssertEqual(try decode(generateRequest(clientID: Array(text.utf8))).clientRequestId, text)
        XCTAssertEqual(try decode(generateRequest(clientID: [])).clientRequestId, "")
    }

    func testOversizedIdIsRefused() {
        assertInvalidField(generateRequest(clientID: [UInt8](repeating: 0x41, count: maxIdentifierBytes + 1)),
                           expected: "at most \(maxIdentifierBytes) bytes")
        assertInvalidField(generateRequest(clientID: [UInt8](repeating: 0x41, count: 1 << 20)),
                           expected: "at most \(maxIdentifierBytes) bytes")
    }

    func testInvalidUTF8IsRefused() {
        assertInvalidField(generateRequest(clientID: [0xFF, 0xFE, 0x00] + Array("bad".utf8)), expected: "valid UTF-8")
        assertInvalidField(generateRequest(clientID: [0x61, 0xC3]), expected: "valid UTF-8")          // cut 2-byte sequence
        assertInvalidField(generateRequest(clientID: [0xED, 0xA0, 0x80]), expected: "valid UTF-8")    // UTF-16 surrogate
    }

    func testKVChunkIdsAreCheckedInThePlaceParser() throws {
        let header = KVChunkHeader(requestId: String(repeating: "r", count: maxIdentifierBytes + 1), modelFingerprint: "fp",
                                   layer: 0, tokenStart: 0, tokenCount: 1, rowWidth: 1, dtype: .f32, pageSize: 16,
                                   chunkIndex: 0, checksum: 0)
        let bytes = PrefillResponse.chunk(KVChunk(header: header, payload: [0, 0, 0, 0])).encoded()
        XCTAssertThrowsError(try bytes.withUnsafeBytes { try PrefillResponseView.parse(segments: [$0]) }) { error in
            guard case let WireError.invalidField(message, field, _, _) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(message, "KVChunk")
            XCTAssertEqual(field, "request_id")
        }
    }
}
