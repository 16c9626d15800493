import Basics
import Wire
import XCTest

/// Every message survives protobuf-c pack → unpack; malformed bytes throw a typed error.
final class MessageRoundTripTests: XCTestCase {
    func roundTrip<M: WireMessage & Equatable>(_ message: M, file: StaticString = #filePath, line: UInt = #line) throws {
        let bytes = message.encoded()
        XCTAssertEqual(try M(decoding: bytes), message, file: file, line: line)
    }

    func testDecodeServiceMessages() throws {
        let sampling = SamplingParams(temperature: 0.7, topK: 40, topP: 0.9, minP: 0.05, seed: 1234, stopTokenIds: [2, 7], presencePenalty: -0.5,
                                      frequencyPenalty: 1.25, repetitionPenalty: 1.1, minTokens: 4,
                                      logitBias: [LogitBias(tokenId: 3, bias: -100), LogitBias(tokenId: 99_999, bias: 2.5)], topLogprobs: 20,
                                      promptLogprobs: true, promptTopLogprobs: 3, seedGiven: true, allowedTokenIds: [5, 1, 99_999],
                                      badWords: [[1, 2, 3], [7], []],
                                      choice: TokenAutomaton(from: [0, 0, 1], token: [5, 9, 5], to: [1, 2, 2], accepting: [2]),
                                      jsonObject: true, structuredAfter: [128_799])
        try roundTrip(GenerateRequest(promptTokenIds: [1, 2, 3, 100_000], maxNewTokens: 64, sampling: sampling,
                                      clientRequestId: "client-1"))
        try roundTrip(GenerateRequest(promptTokenIds: [], maxNewTokens: 0, cacheSalt: "salt-é"))
        try roundTrip(GenerateRequest(promptTokenIds: [1], maxNewTokens: 8, priority: -7))
        try roundTrip(GenerateRequest(promptTokenIds: [1], maxNewTokens: 8, priority: .max))
        try roundTrip(GenerateRequest(promptTokenIds: [1], maxNewTokens: 8, sampling: SamplingParams(jsonSchema: #"{"type": "integer"}"#)))
        try roundTrip(GenerateRequest(promptTokenIds: [1], maxNewTokens: 8, sampling: SamplingParams(jsonObject: true, disableAnyWhitespace: true)))
        try roundTrip(GenerateRequest(promptTokenIds: [1], maxNewTokens: 8, sampling: SamplingParams(regex: #"\d{3}-(é|😀)+"#)))
        try roundTrip(GenerateRequest(promptTokenIds: [1], maxNewTokens: 8, sampling: SamplingParams(grammar: "root ::= [a-z]+ \"é😀\"\n")))
        try roundTrip(GenerateResponse(requestId: "r1", tokens: [GeneratedToken(tokenId: 5, logprob: -0.25),
                                                                 GeneratedToken(tokenId: 9, logprob: -1.5)]))
        let top = [TokenLogprob(tokenId: 9, logprob: -0.5), TokenLogprob(tokenId: 5, logprob: -0.75)]
        try roundTrip(GenerateResponse(requestId: "r1", tokens: [GeneratedToken(tokenId: 5, logprob: -0.75, topLogprobs: top),
                                                                 GeneratedToken(tokenId: 1, logprob: -3, topLogprobs: [])],
                                       promptLogprobs: [PromptTokenLogprobs(logprob: -2, rank: 7, topLogprobs: top), PromptTokenLogprobs(logprob: 0, rank: 1)]))
        let usage = Usage(promptTokens: 10, generatedTokens: 3, ttftSeconds: 0.125, kvBytes: 1 << 33,
                          kvTransferSeconds: 0.5, totalSeconds: 1.25, cachedPromptTokens: 8)
        try roundTrip(GenerateResponse(requestId: "r1", tokens: [], finishReason: .length, usage: usage))
        try roundTrip(GenerateResponse(requestId: "r1", finishReason: .stop, stopTokenId: 0, usage: usage))
        try roundTrip(GenerateResponse(requestId: "r1", finishReason: .stop, stopTokenId: 7))
        try roundTrip(StatsRequest())
        try roundTrip(StatsResponse(activeRequests: 2, freeKVPages: 100, totalKVPages: 128, pageSize: 16, recent: [
            RequestStats(requestId: "a", promptTokens: 5, generatedTokens: 6, kvBytes: 7, kvTransferSeconds: 0.01,
                         finishReason: .stop),
            RequestStats(requestId: "b"),
            RequestStats(requestId: "c", finishReason: .stop, stopTokenId: 0),
        ]))
    }

    func testPrefillServiceMessages() throws {
        try roundTrip(PrefillRequest(requestId: "req-9", promptTokenIds: [4, 5, 6], modelFingerprint: "fp:abc",
                                     dtype: .bf16, maxChunkBytes: 1 << 22, pageSize: 64,
                                     sampling: SamplingParams(temperature: 1, seed: 3), cacheSalt: "tenant-7"))
        try roundTrip(PrefillRequest(requestId: "req-10", promptTokenIds: [4], modelFingerprint: "fp:abc", priority: .min))
        let header = KVChunkHeader(requestId: "req-9", modelFingerprint: "fp:abc", layer: 3, tokenStart: 128,
                                   tokenCount: 2, rowWidth: 3, dtype: .f32, pageSize: 64, chunkIndex: 17,
                                   checksum: 0xDEAD_BEEF_0123_4567)
        try roundTrip(PrefillResponse.chunk(KVChunk(header: header, payload: Array(0..<24))))
        try roundTrip(PrefillResponse.done(PrefillDone(firstToken: 42, firstTokenLogprob: -0.5, totalPayloadBytes: 1 << 30,
                                                       tokens: 4096, layers: 61, prefillSeconds: 2.5, pcpRanks: 2,
                                                       chunks: 300)))
        try roundTrip(PrefillResponse.done(PrefillDone(firstToken: 42, firstTokenLogprob: -0.5, totalPayloadBytes: 8, tokens: 1, layers: 2,
                                                       prefillSeconds: 0.5, pcpRanks: 1, chunks: 2,
                                                       firstTokenTopLogprobs: [TokenLogprob(tokenId: 42, logprob: -0.5)],
                                                       promptLogprobs: [PromptTokenLogprobs(logprob: -1.5, rank: 3, topLogprobs: [TokenLogprob(tokenId: 8, logprob: -0.1)])],
                                                       cachedTokens: 64)))
        try roundTrip(InfoRequest())
        try roundTrip(InfoResponse(modelFingerprint: "fp", modelName: "tiny-v3", layers: 4, rowWidth: 576, ranks: 2))
        try roundTrip(HealthCheckRequest(service: "latentserve.v1.Prefill"))
        try roundTrip(HealthCheckResponse(status: .serving))
    }

    func testMalformedBytesThrowTypedErrors() {
        // A length prefix running past the end, a truncated varint, and an unknown dtype number.
        let cases: [[UInt8]] = [[0x0A, 0x7F, 0x01], [0x08, 0xFF], [0x0A, 0x02, 0x38, 0x09]]
        for bytes in cases {
            XCTAssertThrowsError(try PrefillResponse(decoding: bytes)) { error in
                XCTAssertTrue(error is WireError, "\(error)")
                XCTAssertFalse(String(describing: error).isEmpty)
            }
            XCTAssertThrowsError(try bytes.withUnsafeBytes { try PrefillResponseView.parse(bytes: $0) }) { error in
                XCTAssertTrue(error is WireError, "\(error)")
            }
        }
        XCTAssertThrowsError(try GenerateRequest(decoding: [0x12, 0x05, 0x01]))
    }

    /// The stop oneof by hand-written protobuf bytes (field 3 finish_reason, field 5 stop_token_id):
    /// STOP alone is the model's EOS, STOP with an id (0 included) a stop id; an id with another
    /// reason, and the retired value 5 (EOS before it became STOP), are rejected by name.
    func testFinishReasonAndStopTokenIdOnTheWire() throws {
        XCTAssertEqual(GenerateResponse(requestId: "", finishReason: .stop, stopTokenId: 0).encoded(), [0x18, 0x01, 0x28, 0x00])
        XCTAssertEqual(GenerateResponse(requestId: "", finishReason: .stop).encoded(), [0x18, 0x01])
        let eos = try GenerateResponse(decoding: [0x18, 0x01])
        XCTAssertEqual(eos.finishReason, .stop)
        XCTAssertNil(eos.stopTokenId)
        XCTAssertEqual(try GenerateResponse(decoding: [0x18, 0x01, 0x28, 0x00]).stopTokenId, 0)
        XCTAssertEqual(try GenerateResponse(decoding: [0x18, 0x01, 0x28, 0x09]).stopTokenId, 9)
        XCTAssertThrowsError(try GenerateResponse(decoding: [0x18, 0x02, 0x28, 0x09])) { error in
            XCTAssertEqual(error as? WireError, .invalidField(message: "GenerateResponse", field: "stop_token_id",
                                                              expected: "only with finish_reason STOP", found: "9 with length"))
        }
        XCTAssertThrowsError(try GenerateResponse(decoding: [0x18, 0x05])) { error in
            XCTAssertEqual(error as? WireError, .invalidField(message: "GenerateResponse", field: "finish_reason",
                                                              expected: "0...4 or 6", found: "5"))
        }
    }

    func testEmptyPrefillResponseIsRejected() {
        XCTAssertThrowsError(try PrefillResponse(decoding: [])) { error in
            XCTAssertEqual(error as? WireError,
                           .invalidField(message: "PrefillResponse", field: "kind", expected: "chunk or done", found: "neither"))
        }
    }
}
