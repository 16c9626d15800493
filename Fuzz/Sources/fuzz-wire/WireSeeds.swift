import Basics
import Foundation
import Wire

/// Seeds: valid messages of every kind encoded by the project's own encoders (protobuf-c), each
/// after a cut byte (0: one segment, 0x85: many). libFuzzer calls this once before fuzzing; with
/// $FUZZ_WRITE_SEEDS set it writes them there (scripts/fuzz does, into the corpus).
@_cdecl("LLVMFuzzerInitialize")
public func writeWireSeeds(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> CInt {
    guard let folder = ProcessInfo.processInfo.environment["FUZZ_WRITE_SEEDS"] else { return 0 }
    let sampling = SamplingParams(temperature: 0.7, topK: 40, topP: 0.9, minP: 0.05, seed: 7, stopTokenIds: [2, 9], presencePenalty: 0.5,
                                  frequencyPenalty: -0.25, repetitionPenalty: 1.1, minTokens: 2,
                                  logitBias: [LogitBias(tokenId: 4, bias: -100)], topLogprobs: 2, promptLogprobs: true,
                                  promptTopLogprobs: 1, seedGiven: true, allowedTokenIds: [3, 4, 5],
                                  badWords: [[6, 7], [8]],
                                  choice: TokenAutomaton(from: [0, 0, 1], token: [9, 10, 11], to: [1, 2, 2], accepting: [2]),
                                  jsonObject: true, structuredAfter: [129], jsonSchema: #"{"type": "integer"}"#, regex: #"[a-z]{2,}\d?"#)
    let top = [TokenLogprob(tokenId: 5, logprob: -0.5), TokenLogprob(tokenId: 6, logprob: -1.5)]
    let f32Payload = (0..<8).flatMap { withUnsafeBytes(of: Float($0).bitPattern.littleEndian) { [UInt8]($0) } }
    let chunk = KVChunk(header: KVChunkHeader(requestId: "req-1", modelFingerprint: "fp", layer: 1, tokenStart: 2, tokenCount: 2,
                                              rowWidth: 1, dtype: .f32, pageSize: 2, chunkIndex: 3,
                                              checksum: f32Payload.withUnsafeBytes { XXH3.hash64($0) }),
                        payload: f32Payload)
    let messages: [(String, [UInt8])] = [
        ("generate-request", GenerateRequest(promptTokenIds: [3, 17, 42], maxNewTokens: 16, sampling: sampling,
                                             clientRequestId: "client-1").encoded()),
        ("generate-response", GenerateResponse(requestId: "req-1", tokens: [GeneratedToken(tokenId: 5, logprob: -0.5, topLogprobs: top)],
                                               finishReason: .length, usage: Usage(promptTokens: 3, generatedTokens: 1),
                                               promptLogprobs: [PromptTokenLogprobs(logprob: -2, rank: 3, topLogprobs: top)]).encoded()),
        ("stats-response", StatsResponse(activeRequests: 1, freeKVPages: 10, totalKVPages: 12, pageSize: 16,
                                         recent: [RequestStats(requestId: "req-0", promptTokens: 4, finishReason: .stop)]).encoded()),
        ("prefill-request", PrefillRequest(requestId: "req-1", promptTokenIds: [3, 17], modelFingerprint: "fp", dtype: .bf16,
                                           maxChunkBytes: 4096, pageSize: 16, sampling: sampling).encoded()),
        ("prefill-chunk", PrefillResponse.chunk(chunk).encoded()),
        ("prefill-done", PrefillResponse.done(PrefillDone(firstToken: 5, firstTokenLogprob: -1, totalPayloadBytes: 32, tokens: 4,
                                                          layers: 2, prefillSeconds: 0.1, pcpRanks: 2, chunks: 4, firstTokenTopLogprobs: top,
                                                          promptLogprobs: [PromptTokenLogprobs(logprob: -2, rank: 3, topLogprobs: top)])).encoded()),
        ("info-response", InfoResponse(modelFingerprint: "fp", modelName: "tiny", layers: 2, rowWidth: 576, ranks: 2).encoded()),
        ("health-request", HealthCheckRequest(service: "latentserve.v1.Decode").encoded()),
        ("health-response", HealthCheckResponse(status: .serving).encoded()),
    ]
    for (name, bytes) in messages {
        for cut: UInt8 in [0, 0x85] {
            FileManager.default.createFile(atPath: "\(folder)/\(name)-\(cut)", contents: Data([cut] + bytes))
        }
    }
    return 0
}
