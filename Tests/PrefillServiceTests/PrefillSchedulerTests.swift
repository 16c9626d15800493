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

    /// The cache's free pages once the prefix index lets its pages go (after the loops end): every
    /// page in use then was the index's alone.
    static func freePagesOnceUnindexed(_ scheduler: PrefillScheduler) -> Int {
        let indexed = scheduler.prefixIndex?.pageCount ?? 0, free = scheduler.cache.freePageCount
        scheduler.prefixIndex?.removeAll()
        XCTAssertEqual(scheduler.cache.freePageCount, free + indexed, "only the index held pages")
        return scheduler.cache.freePageCount
    }

    func makeScheduler(_ comm: Communicator, maxBatchTokens: Int, chunkTokens: Int? = nil, cacheTokens: Int = 512,
                       prefixCaching: Bool = true) throws -> PrefillScheduler {
        try PrefillScheduler(model: DeepSeekTransformer(directory: Self.directory), communicator: comm,
                             budgets: PrefillBudgets(maxBatchTokens: maxBatchTokens, maxBatchRequests: 8),
                             chunkTokens: chunkTokens, cacheTokens: cacheTokens, pageSize: 8, prefixCaching: prefixCaching,
                             logger: Self.logger)
    }

    /// What `drive` saw, per job (written by its thread, read after it ends).
    final class Outcomes: @unchecked Sendable { var list: [Outcome] = []; var grownBytes = 0 }

    /// The requests' side, one job at a time: submits it, reads its events to the end, lets it go
    /// (as a Prefill call does once its KV is shipped), calls `afterJob` with its index, then the
    /// next; stops the scheduler after the last.
    static func drive(_ scheduler: PrefillScheduler, _ jobs: [PrefillJob], into box: Outcomes,
                      afterJob: ((Int) -> Void)? = nil) -> Thread {
        Thread {
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
                box.list.append(outcome)
                scheduler.release(job)
                afterJob?(i)
            }
            scheduler.stop()
        }
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
            return (outcomes, scheduler.batchesRun, Self.freePagesOnceUnindexed(scheduler), scheduler.cache.pageCount, lateAccepted)
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
            return (outcomes, scheduler.batchesRun, Self.freePagesOnceUnindexed(scheduler), scheduler.cache.pageCount)
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
            return ([shortOutcome.outcome, longOutcome], Self.freePagesOnceUnindexed(scheduler), scheduler.cache.pageCount)
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
            let box = Outcomes()
            // The requests' side: one job, a pause longer than the idle threshold, another job, then stop.
            let driver = Self.drive(scheduler, jobs, into: box) { i in
                if i == 0 {
                    box.grownBytes = scheduler.model.stepBufferBytes
                    Thread.sleep(forTimeInterval: PrefillScheduler.idleSecondsBeforeRelease + 1.5)
                }
            }
            driver.start()
            try scheduler.runRoot()
            while !driver.isFinished { usleep(1000) }
            return (scheduler.idleReleases, box.grownBytes, box.list, Self.freePagesOnceUnindexed(scheduler), scheduler.cache.pageCount)
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

    /// Prefix caching on two ranks, one job per batch in a cache of 8 pages of 8 tokens: a prompt
    /// sharing 3 full pages with an earlier one reuses them, a repeated prompt all pages but the one
    /// holding its last token, one asking for prompt logprobs none; a prompt needing 7 pages evicts
    /// the least recently used pages. Every first token is the single-rank reference's, and both
    /// ranks' indexes end up alike.
    func testTwoRanksReusePrefixPagesAndEvictUnderPressure() throws {
        let a = Self.prompt(40, salt: 11)
        let prompts = [a, Array(a.prefix(24)) + Self.prompt(10, salt: 12), a, a, Self.prompt(50, salt: 13), a]
        let logprobs: [Int?] = [nil, nil, nil, 2, nil, nil]
        let want = try prompts.map(Self.reference)
        let results = try InProcessGroup(size: 2).run { comm -> (outcomes: [Outcome], cached: [Int], matches: [Int], indexed: Int, free: Int) in
            let scheduler = try self.makeScheduler(comm, maxBatchTokens: 1, cacheTokens: 64)
            func matches() -> [Int] { prompts.map { scheduler.prefixIndex!.match($0, maxPages: 99).count } }
            guard comm.rank == 0 else {
                try scheduler.runFollower()
                return ([], [], matches(), scheduler.prefixIndex!.pageCount, Self.freePagesOnceUnindexed(scheduler))
            }
            let jobs = prompts.enumerated().map {
                scheduler.makeJob(id: "job-\($0)", prompt: $1, sampling: SamplingParams(maxNewTokens: 1, promptLogprobs: logprobs[$0]))
            }
            let box = Outcomes()
            let driver = Self.drive(scheduler, jobs, into: box)
            driver.start()
            try scheduler.runRoot()
            while !driver.isFinished { usleep(1000) }
            return (box.list, jobs.map(\.cachedTokens), matches(), scheduler.prefixIndex!.pageCount, Self.freePagesOnceUnindexed(scheduler))
        }
        let root = results[0], follower = results[1]
        XCTAssertEqual(Array(root.cached.prefix(4)), [0, 24, 32, 0], "none; 3 shared pages; all but the last page; prompt logprobs")
        XCTAssertEqual(root.cached[4], 0)
        XCTAssertLessThan(root.cached[5], 32, "the 50-token prompt evicted some of a's pages")
        XCTAssertEqual(root.outcomes.count, prompts.count)
        for (i, o) in root.outcomes.enumerated() {
            XCTAssertNil(o.failure, "job \(i)")
            XCTAssertEqual(o.first?.token, want[i].token, "job \(i)")
            XCTAssertEqual(Double(o.first?.logprob ?? .nan), Double(want[i].logprob), accuracy: 1e-4, "job \(i)")
        }
        XCTAssertEqual(follower.matches, root.matches, "both ranks index the same pages")
        XCTAssertEqual(follower.indexed, root.indexed)
        XCTAssertEqual(root.free, 8)
        XCTAssertEqual(follower.free, 8)
    }

    /// A rank whose index cannot replay rank 0's (here: prefix caching off on rank 1) fails that
    /// batch on every rank; every index is emptied, and the next batch computes the whole prompt.
    func testRanksWhoseIndexesDifferFailTheBatchAndStartOver() throws {
        let a = Self.prompt(30, salt: 14)
        let want = try Self.reference(a)
        let results = try InProcessGroup(size: 2).run { comm -> (outcomes: [Outcome], cached: [Int], indexed: Int) in
            let scheduler = try self.makeScheduler(comm, maxBatchTokens: 1, prefixCaching: comm.rank == 0)
            guard comm.rank == 0 else { try scheduler.runFollower(); return ([], [], 0) }
            let jobs = (0..<3).map { scheduler.makeJob(id: "job-\($0)", prompt: a, sampling: SamplingParams(maxNewTokens: 1)) }
            let blocker = scheduler.makeJob(id: "blocker", prompt: Self.prompt(300, salt: 16), sampling: SamplingParams(maxNewTokens: 1))
            let box = Outcomes()
            let driver = Self.drive(scheduler, jobs, into: box)
            driver.start()
            try scheduler.runRoot()
            while !driver.isFinished { usleep(1000) }
            return (box.list, jobs.map(\.cachedTokens), scheduler.prefixIndex!.pageCount)
        }
        let root = results[0]
        XCTAssertEqual(root.cached, [0, 24, 0], "the second job would reuse 3 pages; after its failure the index is empty")
        XCTAssertEqual(root.outcomes[0].first?.token, want.token)
        XCTAssertNotNil(root.outcomes[1].failure)
        XCTAssertTrue(root.outcomes[1].failure?.contains("prefix cache of rank 1 holds 0 of the 3 pages") ?? false, root.outcomes[1].failure ?? "")
        XCTAssertEqual(root.outcomes[2].first?.token, want.token)
        XCTAssertEqual(root.indexed, 3, "the third job indexed its pages again")
    }

    /// The batch token budget counts the tokens a prompt adds to compute: after a 40-token prompt is
    /// cached, two repeats (8 tokens each to compute), queued behind a 300-token prompt, fit one
    /// 40-token batch; both get the reference.
    func testCachedTokensDoNotCountAgainstTheBatchBudget() throws {
        let a = Self.prompt(40, salt: 15)
        let want = try Self.reference(a)
        let results = try InProcessGroup(size: 2).run { comm -> (outcomes: [Outcome], cached: [Int], batches: Int) in
            let scheduler = try self.makeScheduler(comm, maxBatchTokens: 40)
            guard comm.rank == 0 else { try scheduler.runFollower(); return ([], [], 0) }
            let jobs = (0..<3).map { scheduler.makeJob(id: "job-\($0)", prompt: a, sampling: SamplingParams(maxNewTokens: 1)) }
            let blocker = scheduler.makeJob(id: "blocker", prompt: Self.prompt(300, salt: 16), sampling: SamplingParams(maxNewTokens: 1))
            let driver = Thread {
                XCTAssertTrue(scheduler.submit(jobs[0]))
                while case .layerReady? = jobs[0].events.pop(timeout: 30) {}   // to its first token
                scheduler.release(jobs[0])
                XCTAssertTrue(scheduler.submit(blocker))          // the repeats queue while it computes
                XCTAssertTrue(scheduler.submit(jobs[1]))
                XCTAssertTrue(scheduler.submit(jobs[2]))
                scheduler.stop()
            }
            driver.start()
            try scheduler.runRoot()
            while !driver.isFinished { usleep(1000) }
            let outcomes = jobs[1...].map(Self.outcome)
            for job in jobs[1...] + [blocker] { scheduler.release(job) }
            return (outcomes, jobs.map(\.cachedTokens), scheduler.batchesRun)
        }
        let root = results[0]
        XCTAssertEqual(root.cached, [0, 32, 32])
        XCTAssertEqual(root.batches, 3, "the first prompt, the 300-token one, then the two repeats as one batch")
        for o in root.outcomes { XCTAssertEqual(o.first?.token, want.token) }
    }

    /// Prompts queued together that begin alike (n > 1 choices, one system prompt): the one behind
    /// waits for the next batch and takes the pages the first computed, rather than computing them
    /// too; an unrelated prompt and one under another salt are not held back. Every first token is
    /// the reference's.
    func testAPromptSharingUncachedPagesWithTheBatchWaitsForThem() throws {
        let system = Self.prompt(24, salt: 20)                       // 3 pages of 8
        let prompts = [system + [7, 8, 9, 10, 11], system + [300, 301, 302, 303, 304, 305], Self.prompt(19, salt: 21),
                       system + [7, 8, 9, 10, 11]]
        let salts = ["", "", "", "other"]
        let want = try prompts.map(Self.reference)
        let results = try InProcessGroup(size: 2).run { comm -> (outcomes: [Outcome], cached: [Int], batches: Int) in
            let scheduler = try self.makeScheduler(comm, maxBatchTokens: 200)
            guard comm.rank == 0 else { try scheduler.runFollower(); return ([], [], 0) }
            let jobs = prompts.indices.map {
                scheduler.makeJob(id: "job-\($0)", prompt: prompts[$0], sampling: SamplingParams(maxNewTokens: 1), cacheSalt: salts[$0])
            }
            for job in jobs { XCTAssertTrue(scheduler.submit(job)) }   // all queued before the first batch forms
            scheduler.stop()
            try scheduler.runRoot()
            let outcomes = jobs.map(Self.outcome)
            for job in jobs { scheduler.release(job) }
            return (outcomes, jobs.map(\.cachedTokens), scheduler.batchesRun)
        }
        let root = results[0]
        XCTAssertEqual(root.cached, [0, 24, 0, 0], "the second prompt took the first's three pages; the other salt shares nothing")
        XCTAssertEqual(root.batches, 2, "jobs 0, 2 and 3, then job 1")
        for (i, o) in root.outcomes.enumerated() {
            XCTAssertNil(o.failure, "job \(i)")
            XCTAssertEqual(o.first?.token, want[i].token, "job \(i)")
            XCTAssertEqual(Double(o.first?.logprob ?? .nan), Double(want[i].logprob), accuracy: 1e-4, "job \(i)")
        }
    }

    /// Queued jobs go into batches by priority (lower first), then by arrival: one job per batch
    /// here, queued as priorities 5, 0, -1, 0, computed as -1, 0, 0, 5; each gets the reference.
    func testQueuedJobsGoByPriorityThenArrival() throws {
        let prompts = (0..<4).map { Self.prompt(20, salt: 30 + $0) }
        let priorities: [Int32] = [5, 0, -1, 0]
        let want = try prompts.map(Self.reference)
        let results = try InProcessGroup(size: 2).run { comm -> (order: [Int], outcomes: [Outcome]) in
            let scheduler = try self.makeScheduler(comm, maxBatchTokens: 20)
            guard comm.rank == 0 else { try scheduler.runFollower(); return ([], []) }
            let jobs = prompts.indices.map {
                scheduler.makeJob(id: "job-\($0)", prompt: prompts[$0], sampling: SamplingParams(maxNewTokens: 1), priority: priorities[$0])
            }
            for job in jobs { XCTAssertTrue(scheduler.submit(job)) }   // all queued before the first batch forms
            scheduler.stop()
            // The order the jobs finish in, read as they do (each job's pages let go once it has).
            final class Seen: @unchecked Sendable { var order: [Int] = []; var outcomes = [Outcome](repeating: Outcome(), count: 4) }
            let seen = Seen()
            let reader = Thread {
                let deadline = Date(timeIntervalSinceNow: 60)
                while seen.order.count < jobs.count && Date() < deadline {
                    for (i, job) in jobs.enumerated() where !seen.order.contains(i) {
                        while let event = job.events.pop(timeout: 0) {
                            switch event {
                            case .layerReady(let l): seen.outcomes[i].layers.append(l)
                            case .done(let first, _, _, _): seen.outcomes[i].first = first; seen.order.append(i); scheduler.release(job)
                            case .failed(let f): seen.outcomes[i].failure = "\(f)"; seen.order.append(i); scheduler.release(job)
                            }
                        }
                    }
                    usleep(500)
                }
            }
            reader.start()
            try scheduler.runRoot()
            while !reader.isFinished { usleep(1000) }
            for (i, job) in jobs.enumerated() where !seen.order.contains(i) { scheduler.release(job) }
            return (seen.order, seen.outcomes)
        }
        let root = results[0]
        XCTAssertEqual(root.order, [2, 1, 3, 0])
        for (i, o) in root.outcomes.enumerated() {
            XCTAssertNil(o.failure, "job \(i)")
            XCTAssertEqual(o.first?.token, want[i].token, "job \(i)")
        }
    }
}
