import ContextParallel
import DeepSeekModel
import Engine
import Foundation
import KVCache
import TinyModelSupport
import XCTest

/// Decode's pages on demand: sequences join holding their prompt's pages, the batcher adds a page
/// as each lengthens, and when none is free the latest to join is preempted — its pages go back, and
/// once its owner recomputes its KV (the prompt and the tokens before the latest) it joins again with
/// its own sampler and generates what it would have without the preemption.
final class PreemptionTests: XCTestCase {
    final class Recorder: @unchecked Sendable {
        let lock = NSLock()
        var tokens: [Int] = []
        var end: GenerationEnd?
        var ended = DispatchSemaphore(value: 0)
        func sink(_ t: SampledToken?, _ e: GenerationEnd?) {
            lock.lock()
            if let t { tokens.append(t.token) }
            if let e { end = e }
            lock.unlock()
            if e != nil { ended.signal() }
        }
        func rearm() { lock.lock(); end = nil; ended = DispatchSemaphore(value: 0); lock.unlock() }
        var preempted: Bool { lock.lock(); defer { lock.unlock() }; if case .preempted = end { return true }; return false }
        var finish: FinishReason? { lock.lock(); defer { lock.unlock() }; return end?.reason }
    }

    let prompts: [[Int32]] = [[1, 2, 3], [40, 41, 42, 43, 44]]
    let maxNew = 30

    /// Greedy and seeded sampling alike: each sequence's tokens equal a run with room for all.
    func testPreemptedSequenceResumesWithTheSameTokens() throws {
        for params in [SamplingParams(maxNewTokens: maxNew, ignoreEOS: true),
                       SamplingParams(temperature: 0.9, topK: 40, seed: 7, maxNewTokens: maxNew, ignoreEOS: true, repetitionPenalty: 1.3)] {
            let roomy = try run(params: params, pageCount: 64)
            XCTAssertEqual(roomy.preemptions, 0)
            // 4-token pages: the two need 9 + 9 pages, 12 are there. The later one is preempted.
            let tight = try run(params: params, pageCount: 12)
            XCTAssertGreaterThan(tight.preemptions, 0, "12 pages for 18 pages of sequences and no preemption")
            XCTAssertEqual(tight.tokens, roomy.tokens, "tokens after a preemption, params \(params)")
            XCTAssertEqual(tight.tokens.map(\.count), [maxNew, maxNew])
        }
    }

    /// Priority scheduling: the victim is the highest priority value, not the latest to join — here
    /// the first sequence (priority 5) makes room for the second (priority 0), which is never preempted.
    func testTheHighestPriorityValueIsPreemptedFirst() throws {
        let params = SamplingParams(maxNewTokens: maxNew, ignoreEOS: true)
        let roomy = try run(params: params, pageCount: 64)
        // The priority-5 one joins a step ahead, so it is not the latest to join.
        let tight = try run(params: params, pageCount: 12, priorities: [5, 0], oneAtATime: true)
        XCTAssertGreaterThan(tight.preempted[0], 0, "the priority-5 sequence was never preempted")
        XCTAssertEqual(tight.preempted[1], 0, "the priority-0 sequence was preempted")
        XCTAssertEqual(tight.tokens, roomy.tokens)
        let fcfs = try run(params: params, pageCount: 12)
        XCTAssertEqual(fcfs.preempted[0], 0, "first come, first served: the later one goes")
        XCTAssertGreaterThan(fcfs.preempted[1], 0)
    }

    /// Runs both prompts in one batcher; a preempted sequence is recomputed by the prefill engine into
    /// a new sequence and joins again (what pd-decode does through a prefill daemon).
    private func run(params: SamplingParams, pageCount: Int,
                     priorities: [Int32] = [0, 0], oneAtATime: Bool = false) throws -> (tokens: [[Int]], preemptions: Int, preempted: [Int]) {
        let model = try DeepSeekTransformer(directory: TinyModel.directory)
        let c = model.config
        let cache = try PagedLatentCache(layers: c.numHiddenLayers, rowWidth: c.latentRowWidth, pageSize: 4, pageCount: pageCount)
        let batcher = ContinuousBatcher(model: model, cache: cache, maxBatch: 4)
        batcher.start()
        defer { batcher.stop() }
        let prefill = PrefillEngine(model: try DeepSeekTransformer(directory: TinyModel.directory), communicator: SingleRankCommunicator())
        var recorders: [Recorder] = [], samplers: [Sampler] = []
        // Both prefilled first, then joined back to back: they share the batch from its first steps.
        var sequences: [Int] = []
        var firsts: [Int] = []
        for p in prompts {
            let s = try cache.allocate(capacity: p.count + maxNew, holding: p.count + 1)
            XCTAssertEqual(try cache.capacity(of: s), 4 * ((p.count + 1 + 3) / 4), "pages for the prompt and the next token only")
            let logits = try prefill.run(prompts: [p], sequences: [s], cache: cache)![0]
            firsts.append(logits.indices.max { logits[$0] < logits[$1] }!)
            sequences.append(s)
        }
        for (i, p) in prompts.enumerated() {
            let recorder = Recorder()
            recorder.tokens = [firsts[i]]
            let sampler = Sampler(params: params, vocabSize: c.vocabSize, prompt: p.map(Int.init), previousTokens: [firsts[i]])
            recorders.append(recorder); samplers.append(sampler)
            _ = batcher.join(sequence: sequences[i], lastToken: firsts[i], generated: 1, params: params, sampler: sampler,
                             priority: priorities[i], sink: recorder.sink)
            let deadline = Date(timeIntervalSinceNow: 10)
            while oneAtATime && batcher.steps == 0 && Date() < deadline { usleep(100) }   // the first one's first step
        }
        var preempted = [0, 0], released = [false, false]
        // A finished sequence's pages go back as its session would give them.
        func releaseFinished() {
            for (j, r) in recorders.enumerated() where !released[j] && r.finish == .length { cache.release(sequences[j]); released[j] = true }
        }
        for (i, recorder) in recorders.enumerated() {
            var rounds = 0
            while true {
                XCTAssertEqual(recorder.ended.wait(timeout: .now() + 30), .success, "sequence \(i) did not end")
                guard recorder.preempted else { break }
                rounds += 1
                preempted[i] += 1
                XCTAssertLessThan(rounds, 20, "sequence \(i) preempted over and over")
                if rounds >= 20 { break }
                XCTAssertThrowsError(try cache.length(of: sequences[i]), "a preempted sequence's pages are given back")
                // Its KV again: the prompt and every token but the latest, which joins as the next input.
                let known = prompts[i] + recorder.tokens.dropLast().map(Int32.init)
                // As the daemon's PageAdmission: the pages once the batch's sequences keep one each for their next step.
                let deadline = Date(timeIntervalSinceNow: 30)
                while cache.freePageCount < cache.pagesNeeded(forTokens: known.count + 1) + batcher.pagesToLeave(forPriority: priorities[i])
                        && Date() < deadline {
                    releaseFinished()
                    usleep(1000)
                }
                let s = try cache.allocate(capacity: prompts[i].count + maxNew, holding: known.count + 1)
                _ = try prefill.run(prompts: [known], sequences: [s], cache: cache)
                sequences[i] = s
                recorder.rearm()
                _ = batcher.join(sequence: s, lastToken: recorder.tokens.last!, generated: recorder.tokens.count, params: params,
                                 sampler: samplers[i], priority: priorities[i], sink: recorder.sink)
            }
            XCTAssertEqual(recorder.finish, .length, "sequence \(i)")
            releaseFinished()
        }
        let preemptions = batcher.preemptions
        XCTAssertEqual(cache.freePageCount, pageCount, "every page back")
        return (recorders.map(\.tokens), preemptions, preempted)
    }
}
