import ContextParallel
import DeepSeekModel
import Engine
import Foundation
import Kernels
import KVCache
import TinyModelSupport
import XCTest

/// N-gram speculative decoding: the lookup (vLLM's rule), the config (vLLM's JSON), and the batcher
/// generating exactly what it generates without drafts — tokens and log-probs, greedy and seeded,
/// with stop ids, penalties, tight pages — while keeping some drafts.
final class SpeculativeDecodingTests: XCTestCase {
    // MARK: The lookup

    private func propose(_ tokens: [Int32], min: Int = 1, max: Int = 3, limit: Int = 4) -> [Int32] {
        var out = [Int32](repeating: -1, count: limit + 1)
        let n = tokens.withUnsafeBufferPointer { t in out.withUnsafeMutableBufferPointer {
            NgramLookup.propose(t, minNgram: min, maxNgram: max, limit: limit, into: $0.baseAddress!)
        } }
        XCTAssertEqual(out[n], -1, "wrote past its count")
        return Array(out[0..<n])
    }

    func testLookupTakesTheLongestSuffixAtItsLatestOccurrence() {
        XCTAssertEqual(propose([1, 2, 3, 4, 9, 2, 3]), [4, 9, 2, 3], "suffix [2, 3] matched at 1...2, then what followed")
        // [3] alone occurs later (index 6) than [2, 3] (1...2), but the longer match wins.
        XCTAssertEqual(propose([1, 2, 3, 7, 8, 5, 3, 6, 2, 3], limit: 2), [7, 8])
        // Equal lengths: the latest occurrence.
        XCTAssertEqual(propose([5, 1, 5, 2, 5, 3, 5], max: 1, limit: 1), [3])
        XCTAssertEqual(propose([4, 4, 4, 4], max: 2, limit: 3), [4], "an occurrence that overlaps the suffix: up to the end")
        XCTAssertEqual(propose([1, 2, 3]), [], "no earlier occurrence")
        XCTAssertEqual(propose([9, 1, 2, 3, 9, 2, 3], min: 3), [], "the longest match (2) is shorter than min")
        XCTAssertEqual(propose([7, 1, 2, 3, 8, 1, 2, 3], min: 3, max: 3, limit: 9), [8, 1, 2, 3])
        XCTAssertEqual(propose([7]), [])
        XCTAssertEqual(propose([7, 7], limit: 0), [])
    }

    /// Against a brute force written from vLLM's description, on random short sequences.
    func testLookupMatchesABruteForce() {
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<3000 {
            let n = Int.random(in: 1...24, using: &rng)
            let tokens = (0..<n).map { _ in Int32.random(in: 0..<3, using: &rng) }
            let lo = Int.random(in: 1...3, using: &rng), hi = lo + Int.random(in: 0...2, using: &rng), k = Int.random(in: 1...5, using: &rng)
            var expected: [Int32] = []
            search: for len in stride(from: min(hi, n - 1), through: lo, by: -1) {
                let suffix = Array(tokens[(n - len)...])
                for end in stride(from: n - 2, through: len - 1, by: -1) where Array(tokens[(end - len + 1)...end]) == suffix {
                    expected = Array(tokens[(end + 1)..<min(n, end + 1 + k)])
                    break search
                }
            }
            XCTAssertEqual(propose(tokens, min: lo, max: hi, limit: k), expected, "\(tokens) min \(lo) max \(hi) k \(k)")
        }
    }

    // MARK: The config

    func testConfigReadsVLLMJSON() throws {
        let a = try SpeculativeConfig(json: #"{"method": "ngram", "num_speculative_tokens": 4, "prompt_lookup_max": 4, "prompt_lookup_min": 2}"#)
        XCTAssertEqual(a, try SpeculativeConfig(draftTokens: 4, minNgram: 2, maxNgram: 4))
        XCTAssertEqual(try SpeculativeConfig(json: #"{"method": "[ngram]", "num_speculative_tokens": 3}"#),
                       try SpeculativeConfig(draftTokens: 3, minNgram: 5, maxNgram: 5))
        XCTAssertEqual(try SpeculativeConfig(json: #"{"method": "ngram", "num_speculative_tokens": 3, "prompt_lookup_max": 2}"#),
                       try SpeculativeConfig(draftTokens: 3, minNgram: 2, maxNgram: 2))
        XCTAssertEqual(try SpeculativeConfig(json: #"{"method": "ngram", "num_speculative_tokens": 3, "prompt_lookup_min": 3}"#),
                       try SpeculativeConfig(draftTokens: 3, minNgram: 3, maxNgram: 3))
        let refused: [(String, String)] = [
            (#"{"method": "eagle", "num_speculative_tokens": 3}"#, "method 'eagle' is not supported"),
            (#"{"method": "ngram"}"#, "'num_speculative_tokens' is required"),
            (#"{"num_speculative_tokens": 3}"#, "'method' is required"),
            (#"{"method": "ngram", "num_speculative_tokens": 3, "model": "x"}"#, "'model' is not supported"),
            (#"{"method": "ngram", "num_speculative_tokens": 0}"#, "num_speculative_tokens must be in 1...32, got 0"),
            (#"{"method": "ngram", "num_speculative_tokens": 99}"#, "num_speculative_tokens must be in 1...32, got 99"),
            (#"{"method": "ngram", "num_speculative_tokens": 2.5}"#, "'num_speculative_tokens' must be an integer"),
            (#"{"method": "ngram", "num_speculative_tokens": 2, "prompt_lookup_min": 4, "prompt_lookup_max": 2}"#, "prompt_lookup_min (4) must be ≤ prompt_lookup_max (2)"),
            (#"{"method": "ngram", "num_speculative_tokens": 2, "prompt_lookup_min": 0}"#, "must be ≥ 1"),
            (#"[1]"#, "expected a JSON object"),
            (#"{"method": "ngram""#, "not JSON"),
        ]
        for (json, message) in refused {
            XCTAssertThrowsError(try SpeculativeConfig(json: json), json) { error in
                let text = (error as? SpeculativeConfigError)?.description ?? ""
                XCTAssertTrue(text.hasPrefix("speculative config: ") && text.contains(message), "\(json): \(text)")
            }
        }
    }

    // MARK: The batcher

    final class Collector: @unchecked Sendable {
        let lock = NSLock()
        var tokens: [SampledToken] = []
        var finish: FinishReason?
        let done = DispatchSemaphore(value: 0)
        func sink(_ t: SampledToken?, _ end: GenerationEnd?) {
            lock.lock()
            if let t { tokens.append(t) }
            finish = end?.reason ?? finish
            lock.unlock()
            if end != nil { done.signal() }
        }
    }

    struct Run { var tokens: [[SampledToken]]; var finishes: [FinishReason?]; var drafted: Int; var accepted: Int; var mostInAStep: Int }

    /// The prompts through one batcher (prefilled first, joined at once), with or without speculation.
    private func run(prompts: [[Int32]], params: [SamplingParams], speculation: SpeculativeConfig?, pageCount: Int = 256,
                     maxBatch: Int = 8) throws -> Run {
        let model = try DeepSeekTransformer(directory: TinyModel.directory)
        let c = model.config
        let cache = try PagedLatentCache(layers: c.numHiddenLayers, rowWidth: c.latentRowWidth, pageSize: 4, pageCount: pageCount)
        let counts = NSLock()
        var drafted = 0, accepted = 0, most = 0
        let batcher = ContinuousBatcher(model: model, cache: cache, maxBatch: maxBatch, speculation: speculation) { step in
            counts.withLock { drafted += step.drafted; accepted += step.accepted; most = max(most, step.drafted) }
            XCTAssertLessThanOrEqual(step.accepted, step.drafted)
        }
        let prefill = PrefillEngine(model: try DeepSeekTransformer(directory: TinyModel.directory), communicator: SingleRankCommunicator())
        var collectors: [Collector] = [], sequences: [Int] = []
        batcher.start()
        for (i, p) in prompts.enumerated() {
            let s = try cache.allocate(capacity: p.count + params[i].maxNewTokens, holding: p.count + 1)
            let logits = try prefill.run(prompts: [p], sequences: [s], cache: cache)![0]
            let sampler = Sampler(params: params[i], vocabSize: c.vocabSize, prompt: p.map(Int.init))
            let first = logits.withUnsafeBufferPointer { sampler.sample(logits: $0) }
            let collector = Collector()
            collector.tokens = [first]
            collectors.append(collector); sequences.append(s)
            _ = batcher.join(sequence: s, lastToken: first.token, generated: 1, params: params[i], sampler: sampler, context: p,
                             sink: collector.sink)
        }
        for (i, col) in collectors.enumerated() {
            XCTAssertEqual(col.done.wait(timeout: .now() + 60), .success, "sequence \(i) did not finish")
        }
        batcher.stop()
        for s in sequences { cache.release(s) }
        XCTAssertEqual(cache.freePageCount, pageCount, "every page back")
        return Run(tokens: collectors.map(\.tokens), finishes: collectors.map(\.finish),
                   drafted: counts.withLock { drafted }, accepted: counts.withLock { accepted }, mostInAStep: counts.withLock { most })
    }

    /// Prompts whose text repeats (drafts found at once) and ones that do not (drafts only once the
    /// tiny model's output repeats itself).
    let prompts: [[Int32]] = [
        [10, 11, 12, 13, 10, 11, 12, 13, 10, 11],
        (0..<24).map { Int32($0 * 37 % 400) },
        [300, 301, 302, 300, 301, 302, 300],
        [7, 8],
    ]

    func testGreedyAndSeededTokensEqualRunsWithoutDrafts() throws {
        let spec = try SpeculativeConfig(draftTokens: 4, minNgram: 1, maxNgram: 3)
        let cases: [(String, [SamplingParams])] = [
            ("greedy", prompts.map { _ in SamplingParams(maxNewTokens: 40, ignoreEOS: true, topLogprobs: 3) }),
            ("seeded", prompts.indices.map {
                SamplingParams(temperature: 0.3, topK: 20, seed: UInt64(5 + $0), maxNewTokens: 40, ignoreEOS: true, topLogprobs: 2)
            }),
            ("penalties", prompts.map { _ in
                SamplingParams(maxNewTokens: 40, ignoreEOS: true, presencePenalty: 0.1, frequencyPenalty: 0.05, repetitionPenalty: 1.02)
            }),
            ("stop ids", prompts.map { _ in SamplingParams(stopTokenIDs: [12, 301], maxNewTokens: 33) }),
        ]
        for (label, params) in cases {
            let plain = try run(prompts: prompts, params: params, speculation: nil)
            let fast = try run(prompts: prompts, params: params, speculation: spec)
            XCTAssertEqual(plain.drafted, 0)
            XCTAssertEqual(fast.tokens, plain.tokens, "\(label): tokens and log-probs with drafts")
            XCTAssertEqual(fast.finishes, plain.finishes, label)
            XCTAssertGreaterThan(fast.accepted, 0, "\(label): no draft kept (drafted \(fast.drafted))")
            if label == "greedy" {
                XCTAssertLessThan(fast.accepted, fast.drafted, "greedy: every draft kept — the rejection path untested")
            }
        }
    }

    /// Drafts ride in the rows of the step's last weight pass (8 x rows): one sequence gets up to 7
    /// whatever num_speculative_tokens above that, four share 4.
    func testDraftsFillTheWeightPassOnly() throws {
        let spec = try SpeculativeConfig(draftTokens: 16, minNgram: 1, maxNgram: 3)
        let alone = try run(prompts: [prompts[0]], params: [SamplingParams(maxNewTokens: 40, ignoreEOS: true)], speculation: spec)
        XCTAssertEqual(alone.mostInAStep, SkinnyLinear.maxRows - 1)
        let four = try run(prompts: prompts, params: prompts.map { _ in SamplingParams(maxNewTokens: 40, ignoreEOS: true) }, speculation: spec)
        XCTAssertGreaterThan(four.drafted, 0)
        XCTAssertLessThanOrEqual(four.mostInAStep, 7, "a step of 4 or fewer sequences drafted past its pass")
    }

    /// Pages for drafts only when free: with a cache just big enough for the sequences, drafts are
    /// cut to the pages held and nothing is preempted for them; the tokens stay the same.
    func testDraftsTakeOnlyFreePages() throws {
        let params = prompts.map { _ in SamplingParams(maxNewTokens: 30, ignoreEOS: true) }
        let pagesNeeded = prompts.map { ($0.count + 30 + 3) / 4 }.reduce(0, +)
        let plain = try run(prompts: prompts, params: params, speculation: nil)
        let tight = try run(prompts: prompts, params: params, speculation: try SpeculativeConfig(draftTokens: 8, minNgram: 1, maxNgram: 2),
                            pageCount: pagesNeeded)
        XCTAssertEqual(tight.tokens, plain.tokens)
        XCTAssertGreaterThan(tight.accepted, 0)
    }
}
