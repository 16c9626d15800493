import ContextParallel
import DeepSeekModel
import Engine
import Foundation
import KVCache
import TinyModelSupport
import XCTest

/// Continuous batching must not change what a sequence generates: sequences that join at
/// different steps, leave early, or get cancelled leave the others' tokens as a lone run makes them.
final class ContinuousBatcherTests: XCTestCase {
    static let directory = TinyModel.directory

    final class Collector: @unchecked Sendable {
        let lock = NSLock()
        var tokens: [Int] = []
        var finish: FinishReason?
        let done = DispatchSemaphore(value: 0)
        func sink(_ t: SampledToken?, _ end: GenerationEnd?) {
            lock.lock()
            if let t { tokens.append(t.token) }
            finish = end?.reason ?? finish
            lock.unlock()
            if end != nil { done.signal() }
        }
    }

    func testJoinsAtDifferentTimesMatchLoneRuns() throws {
        let model = try DeepSeekTransformer(directory: Self.directory)
        let prompts: [[Int32]] = [[1, 2, 3], (0..<40).map { Int32($0 * 7 % 512) }, [500, 9], (0..<17).map { Int32($0 + 100) }]
        let maxNew = [20, 12, 30, 8]
        // Reference: each prompt alone through the Generator (prefill + batched decode of one).
        let generator = Generator(model: try DeepSeekTransformer(directory: Self.directory))
        let reference = try prompts.indices.map { i in
            try generator.generate(prompts: [prompts[i]], params: [SamplingParams(maxNewTokens: maxNew[i])])![0].tokens
        }
        let c = model.config
        let cache = try PagedLatentCache(layers: c.numHiddenLayers, rowWidth: c.latentRowWidth, pageSize: 4, pageCount: 64)
        let batcher = ContinuousBatcher(model: model, cache: cache, maxBatch: 3)   // fewer slots than sequences
        batcher.start()
        defer { batcher.stop() }
        let prefill = PrefillEngine(model: try DeepSeekTransformer(directory: Self.directory), communicator: SingleRankCommunicator())
        var collectors: [Collector] = []
        var sequences: [Int] = []
        for (i, p) in prompts.enumerated() {
            let s = try cache.allocate(capacity: p.count + maxNew[i])
            sequences.append(s)
            let logits = try prefill.run(prompts: [p], sequences: [s], cache: cache)![0]
            let first = logits.indices.max { logits[$0] < logits[$1] }!
            let collector = Collector()
            collector.tokens = [first]
            collectors.append(collector)
            let params = SamplingParams(maxNewTokens: maxNew[i])
            _ = batcher.join(sequence: s, lastToken: first, generated: 1, params: params,
                             sampler: Sampler(params: params, vocabSize: c.vocabSize), sink: collector.sink)
            // Lets the batch run a few steps before the next one joins. Shapes the interleaving only:
            // the tokens must equal the reference whatever the timing.
            usleep(2000)
        }
        for (i, col) in collectors.enumerated() {
            XCTAssertEqual(col.done.wait(timeout: .now() + 30), .success, "sequence \(i) did not finish")
            XCTAssertEqual(col.finish, .length)
            XCTAssertEqual(col.tokens, reference[i], "sequence \(i)")
        }
        for s in sequences { cache.release(s) }
        XCTAssertEqual(cache.freePageCount, 64)
    }

    /// Twelve sequences at once (the daemon batches up to 32): decode steps above the kernels'
    /// 8-row block must leave every sequence's tokens as its lone run makes them.
    func testBatchAboveEightSequencesMatchesLoneRuns() throws {
        let model = try DeepSeekTransformer(directory: Self.directory)
        var prompts: [[Int32]] = []
        for i in 0..<12 { prompts.append((0...(i % 4)).map { j -> Int32 in Int32((i * 53 + j * 11) % 500) }) }
        let maxNew = 24
        let generator = Generator(model: try DeepSeekTransformer(directory: Self.directory))
        let reference = try prompts.map { p in
            try generator.generate(prompts: [p], params: [SamplingParams(maxNewTokens: maxNew)])![0].tokens
        }
        let c = model.config
        let cache = try PagedLatentCache(layers: c.numHiddenLayers, rowWidth: c.latentRowWidth, pageSize: 4, pageCount: 128)
        let batcher = ContinuousBatcher(model: model, cache: cache, maxBatch: 32)
        let prefill = PrefillEngine(model: try DeepSeekTransformer(directory: Self.directory), communicator: SingleRankCommunicator())
        var sequences: [Int] = [], firsts: [Int] = []
        for p in prompts {
            let s = try cache.allocate(capacity: p.count + maxNew)
            let logits = try prefill.run(prompts: [p], sequences: [s], cache: cache)![0]
            sequences.append(s)
            firsts.append(logits.indices.max { logits[$0] < logits[$1] }!)
        }
        batcher.start()
        defer { batcher.stop() }
        var collectors: [Collector] = []
        for (i, s) in sequences.enumerated() {                     // all join within a step or two
            let collector = Collector()
            collector.tokens = [firsts[i]]
            collectors.append(collector)
            let params = SamplingParams(maxNewTokens: maxNew)
            _ = batcher.join(sequence: s, lastToken: firsts[i], generated: 1, params: params,
                             sampler: Sampler(params: params, vocabSize: c.vocabSize), sink: collector.sink)
        }
        for (i, col) in collectors.enumerated() {
            XCTAssertEqual(col.done.wait(timeout: .now() + 30), .success, "sequence \(i) did not finish")
            XCTAssertEqual(col.tokens, reference[i], "sequence \(i)")
        }
        XCTAssertGreaterThan(batcher.largestBatch, 8, "the sequences never ran as one batch above 8")
        for s in sequences { cache.release(s) }
    }

    /// What the batch asks admission to leave free: a page per sequence in it, plus all that the more
    /// important ones still need; nothing once they have finished and the batcher sleeps.
    func testPagesToLeaveFollowTheBatch() throws {
        let model = try DeepSeekTransformer(directory: Self.directory)
        let c = model.config
        let cache = try PagedLatentCache(layers: c.numHiddenLayers, rowWidth: c.latentRowWidth, pageSize: 4, pageCount: 64)
        let batcher = ContinuousBatcher(model: model, cache: cache, maxBatch: 4)
        batcher.start()
        defer { batcher.stop() }
        XCTAssertEqual(batcher.pagesToLeave(forPriority: 0), 0)
        let prefill = PrefillEngine(model: try DeepSeekTransformer(directory: Self.directory), communicator: SingleRankCommunicator())
        let prompt: [Int32] = [1, 2, 3]
        let s = try cache.allocate(capacity: 3 + 200, holding: 4)   // 51 pages at the limit, 1 held
        _ = try prefill.run(prompts: [prompt], sequences: [s], cache: cache)
        let collector = Collector()
        let params = SamplingParams(maxNewTokens: 200, ignoreEOS: true)
        _ = batcher.join(sequence: s, lastToken: 5, generated: 1, params: params, sampler: Sampler(params: params, vocabSize: c.vocabSize),
                         priority: 2, sink: collector.sink)
        let leftForSame = batcher.pagesToLeave(forPriority: 2), leftForLess = batcher.pagesToLeave(forPriority: 3)
        XCTAssertEqual(leftForSame, 1, "one page for its next step")
        XCTAssertGreaterThan(leftForLess, 40, "all it still needs, for a less important request")
        XCTAssertLessThanOrEqual(leftForLess, 1 + 50)
        XCTAssertEqual(collector.done.wait(timeout: .now() + 60), .success)
        cache.release(s)
        let deadline = Date(timeIntervalSinceNow: 10)
        while batcher.pagesToLeave(forPriority: 3) != 0 && Date() < deadline { usleep(1000) }
        XCTAssertEqual(batcher.pagesToLeave(forPriority: 3), 0, "an idle batch asks for nothing")
    }

    func testCancelEndsOneSequenceOnly() throws {
        let model = try DeepSeekTransformer(directory: Self.directory)
        let c = model.config
        let cache = try PagedLatentCache(layers: c.numHiddenLayers, rowWidth: c.latentRowWidth, pageSize: 16, pageCount: 64)
        let batcher = ContinuousBatcher(model: model, cache: cache, maxBatch: 8)
        batcher.start()
        defer { batcher.stop() }
        let prefill = PrefillEngine(model: try DeepSeekTransformer(directory: Self.directory), communicator: SingleRankCommunicator())
        let long = SamplingParams(maxNewTokens: 400), short = SamplingParams(maxNewTokens: 5)
        let a = try cache.allocate(capacity: 3 + 400), b = try cache.allocate(capacity: 3 + 5)
        _ = try prefill.run(prompts: [[1, 2, 3], [4, 5, 6]], sequences: [a, b], cache: cache)
        let ca = Collector(), cb = Collector()
        let ta = batcher.join(sequence: a, lastToken: 7, generated: 1, params: long, sampler: Sampler(params: long, vocabSize: c.vocabSize), sink: ca.sink)
        _ = batcher.join(sequence: b, lastToken: 8, generated: 1, params: short, sampler: Sampler(params: short, vocabSize: c.vocabSize), sink: cb.sink)
        batcher.cancel(ta)
        XCTAssertEqual(ca.done.wait(timeout: .now() + 30), .success)
        XCTAssertEqual(cb.done.wait(timeout: .now() + 30), .success)
        XCTAssertEqual(ca.finish, .cancelled)
        XCTAssertLessThan(ca.tokens.count, 399, "the cancelled sequence stopped early")
        XCTAssertEqual(cb.finish, .length)
        XCTAssertEqual(cb.tokens.count, 4)
    }

    /// The model's EOS ids (here from generation_config.json) end a sequence with reason eos, in the
    /// Generator and in the batcher alike, right after the EOS token; ignore_eos runs on to the length.
    func testEOSEndsGenerationUnlessIgnored() throws {
        let prompt: [Int32] = [5, 77, 300, 12]
        let maxNew = 12
        let free = try Generator(model: DeepSeekTransformer(directory: Self.directory))
            .generate(prompts: [prompt], params: [SamplingParams(maxNewTokens: maxNew, ignoreEOS: true)])![0].tokens
        // The EOS: a token of the free run that first appears at index ≥ 2.
        let k = try XCTUnwrap((2..<free.count).first { !free[..<$0].contains(free[$0]) })
        let eosDir = NSTemporaryDirectory() + "latentserve-eos-model-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: eosDir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: eosDir) }
        for f in ["config.json", "model.safetensors"] {
            try FileManager.default.createSymbolicLink(atPath: eosDir + "/" + f, withDestinationPath: Self.directory + "/" + f)
        }
        try JSONSerialization.data(withJSONObject: ["eos_token_id": [511, free[k]]])
            .write(to: URL(fileURLWithPath: eosDir + "/generation_config.json"))

        let model = try DeepSeekTransformer(directory: eosDir)
        XCTAssertEqual(model.config.eosTokenIDs, [511, free[k]])
        let generator = Generator(model: model)
        let stopped = try generator.generate(prompts: [prompt], params: [SamplingParams(maxNewTokens: maxNew)])![0]
        XCTAssertEqual(stopped.tokens, Array(free[...k]))
        XCTAssertEqual(stopped.finishReason, .stop(nil), "EOS: stop without a stop reason")
        let ignored = try generator.generate(prompts: [prompt], params: [SamplingParams(maxNewTokens: maxNew, ignoreEOS: true)])![0]
        XCTAssertEqual(ignored.tokens, free)
        XCTAssertEqual(ignored.finishReason, .length)

        // The batcher, continuing from the prefill's first token.
        let c = model.config
        let cache = try PagedLatentCache(layers: c.numHiddenLayers, rowWidth: c.latentRowWidth, pageSize: 4, pageCount: 32)
        let batcher = ContinuousBatcher(model: model, cache: cache, maxBatch: 4)
        batcher.start()
        defer { batcher.stop() }
        let prefill = PrefillEngine(model: try DeepSeekTransformer(directory: eosDir), communicator: SingleRankCommunicator())
        var collectors: [Collector] = []
        for ignoreEOS in [false, true] {
            let params = SamplingParams(maxNewTokens: maxNew, ignoreEOS: ignoreEOS)
            let s = try cache.allocate(capacity: prompt.count + maxNew)
            _ = try prefill.run(prompts: [prompt], sequences: [s], cache: cache)
            let collector = Collector()
            collector.tokens = [free[0]]
            collectors.append(collector)
            _ = batcher.join(sequence: s, lastToken: free[0], generated: 1, params: params,
                             sampler: Sampler(params: params, vocabSize: c.vocabSize), sink: collector.sink)
        }
        for col in collectors { XCTAssertEqual(col.done.wait(timeout: .now() + 30), .success) }
        XCTAssertEqual(collectors[0].tokens, Array(free[...k]))
        XCTAssertEqual(collectors[0].finish, .stop(nil))
        XCTAssertEqual(collectors[1].tokens, free)
        XCTAssertEqual(collectors[1].finish, .length)
    }
}
