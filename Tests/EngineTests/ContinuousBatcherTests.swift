import ContextParallel
import DeepSeekModel
import Engine
import Foundation
import KVCache
import XCTest

/// Continuous batching must not change what a sequence generates: sequences that join at
/// different steps, leave early, or get cancelled leave the others' tokens as a lone run makes them.
final class ContinuousBatcherTests: XCTestCase {
    /// The built-in tiny model, written once per test process (all test targets share it).
    static let directory = try! BuiltinModel.tiny.materialize(cacheRoot: NSTemporaryDirectory() + "latentserve-test-models-\(getpid())")

    final class Collector: @unchecked Sendable {
        let lock = NSLock()
        var tokens: [Int] = []
        var finish: String?
        let done = DispatchSemaphore(value: 0)
        func sink(_ t: SampledToken?, _ f: String?) {
            lock.lock()
            if let t { tokens.append(t.token) }
            finish = f ?? finish
            lock.unlock()
            if f != nil { done.signal() }
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
            usleep(2000)   // let the batch run a few steps before the next one joins
        }
        for (i, col) in collectors.enumerated() {
            XCTAssertEqual(col.done.wait(timeout: .now() + 30), .success, "sequence \(i) did not finish")
            XCTAssertEqual(col.finish, "length")
            XCTAssertEqual(col.tokens, reference[i], "sequence \(i)")
        }
        for s in sequences { cache.release(s) }
        XCTAssertEqual(cache.freePageCount, 64)
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
        XCTAssertEqual(ca.finish, "cancelled")
        XCTAssertLessThan(ca.tokens.count, 399, "the cancelled sequence stopped early")
        XCTAssertEqual(cb.finish, "length")
        XCTAssertEqual(cb.tokens.count, 4)
    }
}
