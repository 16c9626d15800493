import ContextParallel
@testable import DecodeService
import DeepSeekModel
import Engine
import Foundation
import KVCache
import TinyModelSupport
import XCTest

/// The decode session's batching/stream step without transport: what reaches `send` is the
/// reference generation; a caller that leaves (cancelled, or its send fails) ends the sequence.
final class TokenStreamTests: XCTestCase {
    static let directory = TinyModel.directory

    final class Sent: @unchecked Sendable {
        let lock = NSLock()
        var tokens: [Int] = []
        var finishes: [FinishReason?] = []
        var calls: Int { lock.lock(); defer { lock.unlock() }; return finishes.count }
        func record(_ t: [SampledToken], _ f: FinishReason?) {
            lock.lock(); tokens += t.map(\.token); finishes.append(f); lock.unlock()
        }
    }

    /// A sequence with `prompt`'s KV in `cache`, and the prefill's greedy first token.
    func prefilled(_ prompt: [Int32], maxNew: Int, model: DeepSeekTransformer, cache: PagedLatentCache) throws -> (sequence: Int, first: SampledToken) {
        let s = try cache.allocate(capacity: prompt.count + maxNew)
        let logits = try PrefillEngine(model: model, communicator: SingleRankCommunicator()).run(prompts: [prompt], sequences: [s], cache: cache)![0]
        let first = logits.withUnsafeBufferPointer { Sampler(params: SamplingParams(), vocabSize: model.config.vocabSize).sample(logits: $0) }
        return (s, first)
    }

    /// The session's stream after the prefill's first token: a sampler that continues from it.
    func stream(_ batcher: ContinuousBatcher, sequence: Int, first: SampledToken, prompt: [Int], params: SamplingParams,
                isCancelled: @escaping () -> Bool, send: @escaping ([SampledToken], FinishReason?) throws -> Void) -> TokenStream {
        let sampler = Sampler(params: params, vocabSize: batcher.model.config.vocabSize, prompt: prompt, previousTokens: [first.token],
                              eosTokenIDs: batcher.model.config.eosTokenIDs)
        return TokenStream(batcher: batcher, sequence: sequence, lastToken: first.token, generatedBefore: 1, sampler: sampler,
                           params: params, isCancelled: isCancelled, send: send)
    }

    func withBatcher(_ body: (ContinuousBatcher, DeepSeekTransformer) throws -> Void) throws {
        let model = try DeepSeekTransformer(directory: Self.directory)
        let c = model.config
        let cache = try PagedLatentCache(layers: c.numHiddenLayers, rowWidth: c.latentRowWidth, pageSize: 16, pageCount: 256)
        let batcher = ContinuousBatcher(model: model, cache: cache, maxBatch: 4)
        batcher.start()
        defer { batcher.stop() }
        try body(batcher, model)
    }

    func testSendsTheReferenceTokensThenTheFinish() throws {
        let prompt: [Int32] = [9, 400, 33, 7, 250]
        let params = SamplingParams(maxNewTokens: 14)
        let reference = try Generator(model: DeepSeekTransformer(directory: Self.directory)).generate(prompts: [prompt], params: [params])![0]
        try withBatcher { batcher, model in
            let (sequence, first) = try prefilled(prompt, maxNew: params.maxNewTokens, model: model, cache: batcher.cache)
            XCTAssertEqual(first.token, reference.tokens[0])
            let sent = Sent()
            let (end, generated) = try stream(batcher, sequence: sequence, first: first, prompt: prompt.map { Int($0) }, params: params,
                                                   isCancelled: { false }, send: sent.record).run()
            XCTAssertEqual(end.reason, reference.finishReason)
            XCTAssertEqual([first.token] + sent.tokens, reference.tokens)
            XCTAssertEqual(generated, reference.tokens.count - 1)
            XCTAssertEqual(sent.finishes.last!, reference.finishReason, "the last send carries the reason")
            XCTAssertTrue(sent.finishes.dropLast().allSatisfy { $0 == nil }, "only the last send carries a reason")
            batcher.cache.release(sequence)
        }
    }

    func testACallerThatLeavesEndsTheSequenceAsCancelled() throws {
        let params = SamplingParams(maxNewTokens: 3000, ignoreEOS: true)
        try withBatcher { batcher, model in
            let (sequence, first) = try prefilled([3, 4, 5], maxNew: params.maxNewTokens, model: model, cache: batcher.cache)
            let sent = Sent()
            let (end, generated) = try stream(batcher, sequence: sequence, first: first, prompt: [3, 4, 5], params: params,
                                                   isCancelled: { sent.calls >= 3 }, send: sent.record).run()
            XCTAssertEqual(end.reason, .cancelled)
            XCTAssertLessThan(generated, 2999)
            XCTAssertTrue(sent.finishes.allSatisfy { $0 == nil }, "a departed caller gets no finish")
            batcher.cache.release(sequence)
        }
    }

    func testAFailedSendEndsTheSequenceAsCancelled() throws {
        struct Gone: Error {}
        let params = SamplingParams(maxNewTokens: 3000, ignoreEOS: true)
        try withBatcher { batcher, model in
            let (sequence, first) = try prefilled([3, 4, 5], maxNew: params.maxNewTokens, model: model, cache: batcher.cache)
            let sent = Sent()
            let (end, generated) = try stream(batcher, sequence: sequence, first: first, prompt: [3, 4, 5], params: params,
                                                   isCancelled: { false }) { tokens, finish in
                sent.record(tokens, finish)
                throw Gone()
            }.run()
            XCTAssertEqual(end.reason, .cancelled)
            XCTAssertEqual(sent.calls, 1, "nothing is sent after a failed send")
            XCTAssertLessThan(generated, 2999)
            batcher.cache.release(sequence)
        }
    }
}
