import ContextParallel
import DeepSeekModel
import Engine
import Foundation
import KVCache
import Logging
@testable import PrefillService
import TinyModelSupport
import XCTest

/// The prefill scheduler without transport: ranks as threads (InProcessGroup), jobs submitted on
/// rank 0, their events read as a Prefill call's handler would.
final class PrefillSchedulerTests: XCTestCase {
    static let directory = TinyModel.directory
    static let logger = Logger(label: "prefill-scheduler-test")

    static func prompt(_ n: Int, salt: Int) -> [Int32] { (0..<n).map { Int32(($0 * 131 + salt * 17 + 5) % 512) } }

    /// What a job's events said: the layers reported ready (in order) and the first token, or the failure.
    struct Outcome {
        var layers: [Int] = []
        var first: SampledToken?
        var failure: String?
    }

    /// Reads a finished job's events (all pushed by now).
    static func outcome(_ job: PrefillJob) -> Outcome {
        var out = Outcome()
        while let event = job.events.pop(timeout: 0) {
            switch event {
            case .layerReady(let l): out.layers.append(l)
            case .done(let first, _, _, _): out.first = first
            case .failed(let f): out.failure = "\(f)"
            }
        }
        return out
    }

    /// The single-rank reference: Generator's first (greedy) token for the prompt alone.
    static func reference(_ prompt: [Int32]) throws -> SampledToken {
        let out = try Generator(model: DeepSeekTransformer(directory: directory))
            .generate(prompts: [prompt], params: [SamplingParams(maxNewTokens: 1, ignoreEOS: true)])![0]
        return SampledToken(token: out.tokens[0], logprob: out.logprobs[0])
    }

    func makeScheduler(_ comm: Communicator, maxBatchTokens: Int, chunkTokens: Int? = nil) throws -> PrefillScheduler {
        try PrefillScheduler(model: DeepSeekTransformer(directory: Self.directory), communicator: comm,
                             budgets: PrefillBudgets(maxBatchTokens: maxBatchTokens, maxBatchRequests: 8),
                             chunkTokens: chunkTokens, cacheTokens: 512, pageSize: 8, logger: Self.logger)
    }

    /// Two ranks, three jobs, a token budget that fits the first two only: two batches; every job
    /// gets each layer once, in order, then the single-rank first token; stop drains and ends the
    /// follower; every page comes back.
    func testTwoRanksBatchWithinBudgetsAndMatchTheSingleRankReference() throws {
        let prompts = [Self.prompt(20, salt: 1), Self.prompt(15, salt: 2), Self.prompt(30, salt: 3)]
        let want = try prompts.map(Self.reference)
        let layers = try DeepSeekConfig.load(directory: Self.directory).numHiddenLayers
        let results = try InProcessGroup(size: 2).run { comm -> (outcomes: [Outcome], batches: Int, freePages: Int, pages: Int, lateSubmit: Bool)? in
            let scheduler = try self.makeScheduler(comm, maxBatchTokens: 40)
            guard comm.rank == 0 else { try scheduler.runFollower(); return nil }
            let jobs = prompts.enumerated().map { scheduler.makeJob(id: "job-\($0)", prompt: $1, sampling: SamplingParams(maxNewTokens: 1)) }
            for job in jobs { XCTAssertTrue(scheduler.submit(job)) }
            scheduler.stop()                      // drain: what was accepted still runs
            let late = scheduler.makeJob(id: "late", prompt: [1, 2], sampling: SamplingParams(maxNewTokens: 1))
            let lateAccepted = scheduler.submit(late)
            scheduler.release(late)
            try scheduler.runRoot()               // returns after the stop broadcast
            let outcomes = jobs.map(Self.outcome)
            for job in jobs { scheduler.release(job) }
            return (outcomes, scheduler.batchesRun, scheduler.cache.freePageCount, scheduler.cache.pageCount, lateAccepted)
        }
        let root = try XCTUnwrap(results[0])
        XCTAssertNil(results[1])
        XCTAssertEqual(root.batches, 2, "20 + 15 tokens fit the 40-token budget, 30 more do not")
        XCTAssertFalse(root.lateSubmit, "a job submitted after stop is refused")
        XCTAssertEqual(root.freePages, root.pages, "pages leaked")
        for (i, o) in root.outcomes.enumerated() {
            XCTAssertNil(o.failure, "job \(i)")
            XCTAssertEqual(o.layers, Array(0..<layers), "job \(i)")
            XCTAssertEqual(o.first?.token, want[i].token, "job \(i)")
            XCTAssertEqual(Double(o.first?.logprob ?? .nan), Double(want[i].logprob), accuracy: 1e-4, "job \(i)")
        }
    }

    /// A job cancelled while queued never runs: it gets `cancelledBeforePrefill` and no layer; the
    /// others run as one batch with their reference tokens; every page comes back.
    func testJobCancelledWhileQueuedIsDropped() throws {
        let prompts = [Self.prompt(9, salt: 4), Self.prompt(12, salt: 5), Self.prompt(7, salt: 6)]
        let want = try [prompts[0], prompts[2]].map(Self.reference)
        let results = try InProcessGroup(size: 2).run { comm -> (outcomes: [Outcome], batches: Int, freePages: Int, pages: Int)? in
            let scheduler = try self.makeScheduler(comm, maxBatchTokens: 4096)
            guard comm.rank == 0 else { try scheduler.runFollower(); return nil }
            let jobs = prompts.enumerated().map { scheduler.makeJob(id: "job-\($0)", prompt: $1, sampling: SamplingParams(maxNewTokens: 1)) }
            for job in jobs { XCTAssertTrue(scheduler.submit(job)) }
            jobs[1].cancel()
            scheduler.stop()
            try scheduler.runRoot()
            let outcomes = jobs.map(Self.outcome)
            for job in jobs { scheduler.release(job) }
            return (outcomes, scheduler.batchesRun, scheduler.cache.freePageCount, scheduler.cache.pageCount)
        }
        let root = try XCTUnwrap(results[0])
        XCTAssertEqual(root.batches, 1)
        XCTAssertEqual(root.outcomes[1].failure, "\(PrefillFailure.cancelledBeforePrefill)")
        XCTAssertEqual(root.outcomes[1].layers, [])
        XCTAssertNil(root.outcomes[1].first)
        XCTAssertEqual(root.outcomes[0].first?.token, want[0].token)
        XCTAssertEqual(root.outcomes[2].first?.token, want[1].token)
        XCTAssertEqual(root.freePages, root.pages, "pages leaked")
    }

    /// Chunked prefill: a long job cancelled while its batch runs (by the owner of a short job in the
    /// same batch, once that job's rows are final) leaves at a step boundary with
    /// `cancelledDuringPrefill`; the short job keeps its reference token; its pages come back.
    func testJobCancelledDuringItsBatchLeavesIt() throws {
        let short = Self.prompt(6, salt: 7), long = Self.prompt(300, salt: 8)
        let want = try Self.reference(short)
        let layers = try DeepSeekConfig.load(directory: Self.directory).numHiddenLayers
        let results = try InProcessGroup(size: 2).run { comm -> (outcomes: [Outcome], freePages: Int, pages: Int)? in
            let scheduler = try self.makeScheduler(comm, maxBatchTokens: 4096, chunkTokens: 6)
            guard comm.rank == 0 else { try scheduler.runFollower(); return nil }
            let shortJob = scheduler.makeJob(id: "short", prompt: short, sampling: SamplingParams(maxNewTokens: 1))
            let longJob = scheduler.makeJob(id: "long", prompt: long, sampling: SamplingParams(maxNewTokens: 1))
            XCTAssertTrue(scheduler.submit(shortJob))
            XCTAssertTrue(scheduler.submit(longJob))
            scheduler.stop()
            // The short job's owner: reads its events as they come; cancels the long job once its own rows are final.
            final class Box: @unchecked Sendable { var outcome = Outcome() }   // written by the owner thread, read after it ends
            let shortOutcome = Box()
            let owner = Thread {
                while shortOutcome.outcome.first == nil && shortOutcome.outcome.failure == nil, let event = shortJob.events.pop(timeout: 30) {
                    switch event {
                    case .layerReady(let l):
                        shortOutcome.outcome.layers.append(l)
                        if l == layers - 1 { longJob.cancel() }
                    case .done(let first, _, _, _): shortOutcome.outcome.first = first
                    case .failed(let f): shortOutcome.outcome.failure = "\(f)"
                    }
                }
            }
            owner.start()
            try scheduler.runRoot()
            while !owner.isFinished { usleep(1000) }
            let longOutcome = Self.outcome(longJob)
            scheduler.release(shortJob); scheduler.release(longJob)
            return ([shortOutcome.outcome, longOutcome], scheduler.cache.freePageCount, scheduler.cache.pageCount)
        }
        let root = try XCTUnwrap(results[0])
        XCTAssertEqual(root.outcomes[0].first?.token, want.token)
        XCTAssertEqual(root.outcomes[0].layers, Array(0..<layers))
        XCTAssertEqual(root.outcomes[1].failure, "\(PrefillFailure.cancelledDuringPrefill)")
        XCTAssertEqual(root.outcomes[1].layers, [], "a cancelled job's rows are never reported ready")
        XCTAssertEqual(root.freePages, root.pages, "pages leaked")
    }

    /// Idle for `idleSecondsBeforeRelease` after a batch, rank 0 broadcasts idle and every rank
    /// frees its step buffers on its compute thread, once; a job after that gets the single-rank
    /// reference as before, and every page comes back.
    func testIdleRanksReleaseTheirBuffersOnceAndServeAfterwards() throws {
        let prompts = [Self.prompt(120, salt: 9), Self.prompt(33, salt: 10)]
        let want = try prompts.map(Self.reference)
        let results = try InProcessGroup(size: 2).run { comm -> (releases: Int, grownBytes: Int, outcomes: [Outcome], freePages: Int, pages: Int) in
            let scheduler = try self.makeScheduler(comm, maxBatchTokens: 4096)
            guard comm.rank == 0 else {
                try scheduler.runFollower()
                return (scheduler.idleReleases, 0, [], 0, 0)
            }
            let jobs = prompts.enumerated().map { scheduler.makeJob(id: "job-\($0)", prompt: $1, sampling: SamplingParams(maxNewTokens: 1)) }
            final class Box: @unchecked Sendable { var outcomes: [Outcome] = []; var grownBytes = 0 }   // written by the driver, read after it ends
            let box = Box()
            // The requests' side: one job, a pause longer than the idle threshold, another job, then stop.
            let driver = Thread {
                for (i, job) in jobs.enumerated() {
                    XCTAssertTrue(scheduler.submit(job))
                    var outcome = Outcome()
                    while outcome.first == nil && outcome.failure == nil, let event = job.events.pop(timeout: 30) {
                        switch event {
                        case .layerReady(let l): outcome.layers.append(l)
                        case .done(let first, _, _, _): outcome.first = first
                        case .failed(let f): outcome.failure = "\(f)"
                        }
                    }
                    box.outcomes.append(outcome)
                    if i == 0 {
                        box.grownBytes = scheduler.model.stepBufferBytes
                        Thread.sleep(forTimeInterval: PrefillScheduler.idleSecondsBeforeRelease + 1.5)
                    }
                }
                scheduler.stop()
            }
            driver.start()
            try scheduler.runRoot()
            while !driver.isFinished { usleep(1000) }
            for job in jobs { scheduler.release(job) }
            return (scheduler.idleReleases, box.grownBytes, box.outcomes, scheduler.cache.freePageCount, scheduler.cache.pageCount)
        }
        let root = results[0], follower = results[1]
        XCTAssertGreaterThanOrEqual(root.releases, 1, "no idle release in a 2.5 s pause")
        XCTAssertEqual(follower.releases, root.releases, "the follower releases when rank 0 says idle")
        XCTAssertGreaterThan(root.grownBytes, 120 * 64 * 4, "the 120-token batch grew the step buffers")
        XCTAssertEqual(root.outcomes.count, 2)
        for (i, o) in root.outcomes.enumerated() {
            XCTAssertNil(o.failure, "job \(i)")
            XCTAssertEqual(o.first?.token, want[i].token, "job \(i)")
            XCTAssertEqual(Double(o.first?.logprob ?? .nan), Double(want[i].logprob), accuracy: 1e-4, "job \(i)")
        }
        XCTAssertEqual(root.freePages, root.pages, "pages leaked")
    }
}
