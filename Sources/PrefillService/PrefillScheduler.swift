import ContextParallel
import DeepSeekModel
import Engine
import Foundation
import KVCache
import Kernels
import Logging
import ServiceSupport
import StructuredOutput

/// How much one prefill batch may hold.
struct PrefillBudgets: Sendable {
    var maxBatchTokens: Int               // prompt tokens to compute per batch, cached ones not counted (a longer prompt runs alone)
    var maxBatchRequests: Int
}

/// The prefill side's scheduling, without any transport: rank 0 queues jobs, batches the waiting
/// ones within the budgets, reserves their pages in the prefill cache, broadcasts each batch and
/// computes it with every other rank (`runFollower`), then tells each job's owner through its
/// events: layer by layer as rows are final, then the first token. Jobs cancelled while queued are
/// dropped; jobs cancelled during a batch leave it between steps. `stop()` drains: every job
/// accepted before it is computed, then the other ranks are told to stop.
///
/// Prefix caching (`prefixCaching`): after each batch every rank indexes the full pages of its
/// finished prompts (`PrefixIndex`); a later prompt starting with the same tokens shares those pages
/// and computes only the rest. Rank 0 alone decides what a prompt reuses and what is evicted, and
/// broadcasts both with the batch; the others replay them, so all indexes stay alike (checked: a
/// rank that cannot replay fails the batch on every rank, and every rank then empties its index).
final class PrefillScheduler: @unchecked Sendable {
    let model: DeepSeekTransformer
    let communicator: Communicator
    let cache: PagedLatentCache
    /// nil: prefix caching off.
    let prefixIndex: PrefixIndex?
    let engine: PrefillEngine
    let budgets: PrefillBudgets
    let logger: Logger
    private let incoming = BlockingQueue<PrefillJob>()
    let metrics = PrefillMetrics()
    private let pagesFreed = NSCondition()
    /// Batches computed (rank 0's count; read after `runRoot` returns).
    private(set) var batchesRun = 0
    /// Times this rank freed its buffers because rank 0 was idle.
    private(set) var idleReleases = 0
    /// When rank 0's last batch ended; nil once the ranks have released their memory since.
    private var lastBatchEnd: Double?
    /// Idle this long after a batch, every rank frees its step buffers and trims its heap: without
    /// it a rank's RSS stays at its largest batch so far (the soak's RSS rule failed on it).
    static let idleSecondsBeforeRelease = 1.0

    /// `cacheTokens` rows of `pageSize` tokens hold the batches being computed and the rows still being shipped.
    init(model: DeepSeekTransformer, communicator: Communicator, budgets: PrefillBudgets, chunkTokens: Int?,
         cacheTokens: Int, pageSize: Int, prefixCaching: Bool = true, logger: Logger) throws {
        self.model = model
        self.communicator = communicator
        self.budgets = budgets
        self.logger = logger
        let c = model.config
        cache = try PagedLatentCache(layers: c.numHiddenLayers, rowWidth: c.latentRowWidth, pageSize: pageSize,
                                     pageCount: (cacheTokens + pageSize - 1) / pageSize, resident: true)
        prefixIndex = prefixCaching ? PrefixIndex(cache: cache) : nil
        engine = PrefillEngine(model: model, communicator: communicator, chunkTokens: chunkTokens)
    }

    /// The longest prompt the cache can hold.
    var capacityTokens: Int { cache.pageCount * cache.pageSize }

    func makeJob(id: String, prompt: [Int32], sampling: Engine.SamplingParams, grammar: StructuredGrammar? = nil,
                 cacheSalt: String = "", priority: Int32 = 0) -> PrefillJob {
        PrefillJob(id: id, prompt: prompt, sampling: sampling, grammar: grammar, cacheSalt: cacheSalt, priority: priority, cache: cache)
    }

    /// Queues a job (any thread); false once stopping (the job will never run).
    func submit(_ job: PrefillJob) -> Bool {
        metrics.queued(tokens: job.prompt.count)
        guard incoming.push(job) else { metrics.dequeued(tokens: job.prompt.count, waited: nil); return false }
        return true
    }

    /// The owner is done with the job's rows (call exactly once per job made, submitted or not).
    func release(_ job: PrefillJob) {
        job.letGo()
        signalPagesFreed()
    }

    /// Stop accepting jobs; `runRoot` returns once the accepted ones are computed.
    func stop() { incoming.close() }

    // MARK: Rank 0

    /// Computes batches until `stop()` and the queue is drained, then stops the other ranks.
    func runRoot() throws {
        var pending: [PrefillJob] = []
        while let step = nextStep(&pending) {
            switch step {
            case .batch(let jobs, let batch):
                try runBatch(jobs, batch)
            case .idle:
                _ = try communicator.broadcastBytesWhenIdle(BatchMessage.idle.encode(), root: 0)
                releaseIdleMemory()
            }
        }
        _ = try communicator.broadcastBytesWhenIdle(BatchMessage.stop.encode(), root: 0)
    }

    private enum RootStep { case batch([PrefillJob], PrefillBatch), idle }

    /// Waiting jobs into one batch: up to maxBatchTokens prompt tokens and maxBatchRequests
    /// requests, by priority (lower first) then oldest first, but a job sharing uncached leading pages with one already in the batch
    /// waits for the next (then they are cached); cancelled jobs are dropped. `.idle` once, when nothing has come for
    /// `idleSecondsBeforeRelease` after a batch. nil once stopping and nothing is left.
    private func nextStep(_ pending: inout [PrefillJob]) -> RootStep? {
        // After every job of its priority or a lower value: arrival order within one priority.
        func enqueue(_ job: PrefillJob) { pending.insert(job, at: pending.firstIndex { $0.priority > job.priority } ?? pending.count) }
        while true {
            for job in incoming.drain() { enqueue(job) }
            pending.removeAll { job in
                if job.isCancelled {
                    logger.info("dropped cancelled request from the queue", metadata: ["request": "\(job.id)"])
                    job.events.push(.failed(.cancelledBeforePrefill))
                    metrics.dequeued(tokens: job.prompt.count, waited: nil)
                    release(job)
                    return true
                }
                return false
            }
            if !pending.isEmpty { break }
            guard let job = incoming.pop(timeout: 0.5) else {
                if incoming.isClosed && incoming.count == 0 { return nil }
                if let end = lastBatchEnd, monotonicSeconds() - end >= Self.idleSecondsBeforeRelease {
                    lastBatchEnd = nil
                    return .idle
                }
                continue
            }
            enqueue(job)
        }
        var batch: [PrefillJob] = [], tokens = 0
        var cachedPages: [Int] = [], evictions: [[PrefixIndex.EntryID]] = [], evicted: [PrefixIndex.EntryID] = []
        func made() -> RootStep {
            let wants = batch.map(\.sampling.promptLogprobs)
            return .batch(batch, PrefillBatch(prompts: batch.map(\.prompt), promptLogprobs: wants.contains { $0 != nil } ? wants : nil,
                                              cachedPages: cachedPages, evictions: evictions + [evicted],
                                              salts: batch.map(\.cacheSalt)))
        }
        var next = 0   // pending[next] is the oldest job not deferred
        while next < pending.count, batch.count < budgets.maxBatchRequests {
            let job = pending[next]
            let reusable = Self.reusablePages(job.prompt.count, wantsPromptLogprobs: job.sampling.promptLogprobs != nil,
                                              pageSize: cache.pageSize)
            func match() -> [PrefixIndex.EntryID] { prefixIndex?.match(job.prompt, salt: job.cacheSalt, maxPages: reusable) ?? [] }
            var shared = match()
            // A prompt whose leading pages a job of this batch is about to compute (n > 1 choices, a
            // burst with one system prompt) waits for the next batch, where they are cached: a batch
            // takes about the sum of its prompts' times, so the wait costs it less than computing them twice.
            if prefixIndex != nil, batch.contains(where: {
                $0.cacheSalt == job.cacheSalt && Self.commonPages($0.prompt, job.prompt, maxPages: reusable, pageSize: cache.pageSize) > shared.count
            }) {
                next += 1
                continue
            }
            // The token budget counts what a prompt adds to compute: the tokens after its cached pages.
            guard batch.isEmpty || tokens + job.prompt.count - shared.count * cache.pageSize <= budgets.maxBatchTokens else { break }
            // Reserve pages, sharing the prompt's cached leading pages; when short of pages, evict the
            // prefix cache's least recently used pages nobody else holds (then match again: the
            // prompt's own may have gone), then wait while earlier batches' KV is still being shipped.
            var sequence: Int?
            while sequence == nil {
                let pages = prefixIndex?.pages(of: shared) ?? []
                do { sequence = try cache.allocate(capacity: job.prompt.count, sharing: pages) } catch {
                    let gone = prefixIndex?.evict(untilFree: cache.pagesNeeded(forTokens: job.prompt.count) - pages.count) ?? []
                    evicted += gone
                    if !gone.isEmpty { shared = match(); continue }
                    if !batch.isEmpty { return made() }   // run what fits; this job waits for the next batch
                    pagesFreed.lock(); _ = pagesFreed.wait(until: Date(timeIntervalSinceNow: 0.05)); pagesFreed.unlock()
                }
            }
            let cachedTokens = shared.count * cache.pageSize
            job.assign(sequence: sequence!, cachedTokens: cachedTokens)
            if prefixIndex != nil { metrics.prefixLookup(tokens: job.prompt.count, hits: cachedTokens) }
            cachedPages.append(shared.count)
            evictions.append(evicted)
            evicted = []
            metrics.dequeued(tokens: job.prompt.count, waited: Date().timeIntervalSince(job.arrival))
            batch.append(job)
            tokens += job.prompt.count - cachedTokens
            pending.remove(at: next)
        }
        return made()
    }

    /// Full pages two prompts begin with alike, at most `maxPages`.
    static func commonPages(_ a: [Int32], _ b: [Int32], maxPages: Int, pageSize: Int) -> Int {
        let limit = min(a.count, b.count, maxPages * pageSize)
        var n = 0
        while n < limit && a[n] == b[n] { n += 1 }
        return n / pageSize
    }

    /// Leading pages of a prompt it may take from the prefix cache: full pages before its last
    /// token (whose logits the first token needs), none when it asks for prompt logprobs.
    static func reusablePages(_ promptTokens: Int, wantsPromptLogprobs: Bool, pageSize: Int) -> Int {
        wantsPromptLogprobs ? 0 : (promptTokens - 1) / pageSize
    }

    /// Every rank, inside the batch's agreed block once it is computed: index the finished prompts' pages.
    private func indexFinished(_ batch: PrefillBatch, sequences: [Int]) throws {
        guard let prefixIndex else { return }
        for i in engine.completed { try prefixIndex.insert(batch.prompts[i], salt: batch.salts[i], sequence: sequences[i]) }
        metrics.prefixCache(pages: prefixIndex.pageCount)
    }

    /// Every rank, after a failed batch: the indexes may no longer agree, so each starts empty.
    private func forgetPrefixes() {
        prefixIndex?.removeAll()
        metrics.prefixCache(pages: 0)
    }

    private func runBatch(_ jobs: [PrefillJob], _ batch: PrefillBatch) throws {
        let prompts = batch.prompts
        _ = try communicator.broadcastBytesWhenIdle(BatchMessage.batch(batch).encode(), root: 0)
        let start = monotonicSeconds()
        do {
            let sequences = jobs.map { $0.sequence! }
            try communicator.agreed {}             // the other ranks replay the batch's pages (`replay`)
            let logits = try communicator.agreed {
                let logits = try engine.run(prompts: prompts, sequences: sequences, cache: cache,
                                            cachedPrefix: batch.cachedPages.map { $0 * cache.pageSize },
                                            cancellation: { jobs[$0].isCancelled }, promptLogprobs: batch.promptLogprobs) { layer, finished in
                    for i in finished { jobs[i].events.push(.layerReady(layer)) }
                }
                try indexFinished(batch, sequences: sequences)
                return logits
            }
            let computeEnd = monotonicSeconds()
            let seconds = computeEnd - start
            metrics.batch(seconds: seconds, promptTokens: prompts.reduce(0) { $0 + $1.count },
                          outcomes: jobs.indices.map { (logits?[$0].isEmpty ?? true) ? "cancelled" : "done" })
            for (i, job) in jobs.enumerated() {
                guard let row = logits?[i], !row.isEmpty else {
                    job.events.push(.failed(.cancelledDuringPrefill))
                    logger.info("dropped cancelled request from its batch", metadata: ["request": "\(job.id)"])
                    continue
                }
                let sampler = Sampler(params: job.sampling, vocabSize: model.config.vocabSize, prompt: job.prompt.map { Int($0) },
                                      eosTokenIDs: model.config.eosTokenIDs,
                                      grammar: job.grammar)
                let first = row.withUnsafeBufferPointer { sampler.sample(logits: $0) }
                job.events.push(.done(first: first, promptLogprobs: engine.promptLogprobs[i], seconds: seconds, computeEnd: computeEnd))
            }
            logger.debug("batch done", metadata: ["requests": "\(jobs.count)", "tokens": "\(prompts.reduce(0) { $0 + $1.count })",
                                                  "seconds": "\(String(format: "%.3f", seconds))"])
        } catch let failure as RankFailures {
            logger.error("prefill batch failed: \(failure)")
            for job in jobs { job.events.push(.failed(.computeFailed("\(failure)"))) }
            metrics.batch(seconds: monotonicSeconds() - start, promptTokens: 0, outcomes: jobs.map { _ in "failed" })
            forgetPrefixes()
        }
        batchesRun += 1
        for job in jobs { release(job) }
        lastBatchEnd = monotonicSeconds()
    }

    /// Every rank, on its compute thread once rank 0 says idle: the step buffers and what the
    /// batches freed go back to the system.
    private func releaseIdleMemory() {
        idleReleases += 1
        model.releaseStepBuffers()
        FreedMemory.returnToSystem()
    }

    private func signalPagesFreed() { pagesFreed.lock(); pagesFreed.broadcast(); pagesFreed.unlock() }

    // MARK: Ranks > 0

    /// Computes each batch rank 0 broadcasts, until it broadcasts stop.
    func runFollower() throws {
        while true {
            switch try BatchMessage.decode(communicator.broadcastBytesWhenIdle(nil, root: 0)) {
            case .stop:
                return
            case .idle:
                releaseIdleMemory()
            case .batch(let batch):
                var sequences: [Int] = []
                do {
                    try communicator.agreed { sequences = try replay(batch) }   // before any collective of the compute
                    _ = try communicator.agreed {
                        let logits = try engine.run(prompts: batch.prompts, sequences: sequences, cache: cache,
                                                    cachedPrefix: batch.cachedPages.map { $0 * cache.pageSize },
                                                    cancellation: { _ in false }, promptLogprobs: batch.promptLogprobs)
                        try indexFinished(batch, sequences: sequences)
                        return logits
                    }
                } catch let failure as RankFailures {
                    logger.error("prefill batch failed on rank \(communicator.rank): \(failure)")
                    forgetPrefixes()
                }
                for s in sequences { cache.release(s) }
            }
        }
    }

    /// A follower's pages for rank 0's batch: rank 0's evictions and prefix matches, in its order.
    private func replay(_ batch: PrefillBatch) throws -> [Int] {
        guard batch.evictions.count == batch.prompts.count + 1, batch.cachedPages.count == batch.prompts.count,
              batch.salts.count == batch.prompts.count else {
            throw PrefillServiceError.corruptBatchMessage(0)
        }
        var sequences: [Int] = []
        do {
            for (k, prompt) in batch.prompts.enumerated() {
                var shared: [Int32] = []
                if let prefixIndex {
                    try prefixIndex.evict(ids: batch.evictions[k])
                    let found = prefixIndex.match(prompt, salt: batch.salts[k], maxPages: batch.cachedPages[k])
                    guard found.count == batch.cachedPages[k] else {
                        throw PrefillServiceError.prefixCacheDiverged(rank: communicator.rank, pages: batch.cachedPages[k], found: found.count)
                    }
                    shared = prefixIndex.pages(of: found)
                } else if batch.cachedPages[k] != 0 || !batch.evictions[k].isEmpty {
                    throw PrefillServiceError.prefixCacheDiverged(rank: communicator.rank, pages: batch.cachedPages[k], found: 0)
                }
                sequences.append(try cache.allocate(capacity: prompt.count, sharing: shared))
            }
            try prefixIndex?.evict(ids: batch.evictions[batch.prompts.count])
        } catch {
            for s in sequences { cache.release(s) }
            throw error
        }
        return sequences
    }
}
