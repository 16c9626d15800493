import DeepSeekModel
import Foundation
import Kernels
import KVCache

/// Continuous batching for decode: sequences join and leave between steps; every step runs all
/// active sequences as one batched forward (weights streamed once per step, not per sequence).
/// One thread owns the model; joins and cancels come from any thread.
///
/// Pages on demand: a sequence may join holding pages for fewer positions than it may reach
/// (`PagedLatentCache.allocate(capacity:holding:)`); before each step the batcher grows every
/// sequence by a page when its next position needs one. When no page is free, the sequence that
/// joined last leaves the batch, oldest first keep going (vLLM's recompute preemption): the batcher
/// releases its pages and its sink gets (nil, .preempted). With priorities (vLLM's priority
/// scheduling: lower values first), the victim is the latest to join among the highest values, and
/// the waiting sequences join lowest value first.
///
/// With a `SpeculativeConfig`, a sequence whose latest tokens occurred earlier in it adds the tokens
/// that followed there as draft rows of the step (pages for them only when free: drafts never
/// preempt) and keeps each draft the sampler confirms; its sink then gets several tokens in one
/// step, the same tokens it would get one per step. Drafts fill only the rows the step's weight
/// passes have room for anyway: the skinny kernels stream each weight once per `SkinnyLinear.maxRows`
/// x rows, so a batch of b sequences adds up to roundUp(b, 8) − b drafts, shared out evenly (at b = 1,
/// up to 7), and a batch of a multiple of 8 speculates nothing.
public final class ContinuousBatcher: @unchecked Sendable {
    /// Called on the batcher thread after each step: the token (nil when the sequence ended
    /// without one) and, on the last call for the sequence, how it ended (stop, eos, length,
    /// cancelled, failed with the decode step's error, or preempted). After the last call the
    /// batcher never touches the sequence's pages again, so the owner may release them (a
    /// preempted sequence's are released already; releasing again is harmless).
    public typealias Sink = (_ token: SampledToken?, _ end: GenerationEnd?) -> Void

    public final class Ticket: @unchecked Sendable {
        fileprivate let sequence: Int
        fileprivate let sampler: Sampler
        fileprivate let stop: StopCondition
        fileprivate let sink: Sink
        fileprivate let priority: Int32
        fileprivate var lastToken: Int
        fileprivate var generated: Int
        fileprivate var cancelled = false
        fileprivate var done = false
        /// With speculation: every token of the sequence, `lastToken` last (drafts are looked up here).
        fileprivate var history: [Int32] = []
        /// This step: the sequence's first row and its drafts.
        fileprivate var firstRow = 0, drafts = 0
        fileprivate init(sequence: Int, sampler: Sampler, stop: StopCondition, sink: @escaping Sink, priority: Int32, lastToken: Int,
                         generated: Int) {
            self.sequence = sequence; self.sampler = sampler; self.stop = stop; self.sink = sink; self.priority = priority
            self.lastToken = lastToken; self.generated = generated
        }
    }

    /// What speculation did in one step: sequences given drafts, drafts, drafts kept.
    public struct SpeculationStep: Sendable {
        public var sequences = 0, drafted = 0, accepted = 0
    }

    public let model: DeepSeekTransformer
    public let cache: PagedLatentCache
    public let maxBatch: Int
    private let condition = NSCondition()
    private var waiting: [Ticket] = []
    private var active: [Ticket] = []
    private var running = false
    /// Active and waiting sequences as of the loop's last pass (joins since then added; empty while
    /// the batcher sleeps): each one's priority and the pages it still has to add to reach its limit.
    private var claims: [(priority: Int32, pages: Int)] = []
    private var thread: Thread?
    public let speculation: SpeculativeConfig?
    /// Called on the batcher thread after each step that had drafts.
    private let onSpeculation: (SpeculationStep) -> Void
    private var stepTokens: [Int32], stepSequences: [Int], stepPositions: [Int32]   // [rows] of the step
    private let logits: Scratch
    public private(set) var steps = 0
    /// Most sequences one step has run (written by the batcher thread).
    public private(set) var largestBatch = 0
    /// Sequences preempted for pages so far (written by the batcher thread).
    public private(set) var preemptions = 0

    /// KV pages a request of `priority` should leave free for the batch: one per sequence in it or
    /// waiting to join (what its next step may need), plus every page still to come of the sequences
    /// more important than the request (lower priority value) — so a request preempted for pages does
    /// not take them straight back, and a less important one never takes what a more important one
    /// needs to finish. Under first-come-first-served (all 0) only the first part.
    public func pagesToLeave(forPriority priority: Int32) -> Int {
        condition.lock(); defer { condition.unlock() }
        var pages = claims.count
        for c in claims where c.priority < priority { pages += c.pages }
        return pages
    }

    public init(model: DeepSeekTransformer, cache: PagedLatentCache, maxBatch: Int = 32, speculation: SpeculativeConfig? = nil,
                onSpeculation: @escaping (SpeculationStep) -> Void = { _ in }) {
        self.model = model
        self.cache = cache
        self.maxBatch = maxBatch
        self.speculation = speculation
        self.onSpeculation = onSpeculation
        let rows = speculation == nil ? maxBatch : (maxBatch + SkinnyLinear.maxRows - 1) / SkinnyLinear.maxRows * SkinnyLinear.maxRows
        stepTokens = [Int32](repeating: 0, count: rows)
        stepSequences = [Int](repeating: 0, count: rows)
        stepPositions = [Int32](repeating: 0, count: rows)
        logits = Scratch(capacity: rows * model.config.vocabSize)
    }

    public func start() {
        condition.lock(); defer { condition.unlock() }
        guard !running else { return }
        running = true
        let t = Thread { [unowned self] in self.loop() }
        t.name = "decode-batcher"
        t.stackSize = 8 << 20
        thread = t
        t.start()
    }

    /// Ends every sequence as cancelled and stops the thread.
    public func stop() {
        condition.lock()
        running = false
        condition.broadcast()
        while thread != nil { condition.wait() }   // the loop clears it after its last sink call
        condition.unlock()
    }

    /// `sequence` holds the KV of every position before `lastToken` (the prompt's, and after a
    /// preemption the tokens generated before it too); `lastToken` is the latest sampled token
    /// (already delivered), `generated` counts the tokens generated so far including it. The
    /// sequence stops by `StopCondition` (params + the model's EOS ids). `context`: the tokens before
    /// `lastToken` (prompt, then output), where speculation looks drafts up; unused without it.
    /// `priority`: vLLM's request priority (lower first; 0 for all under first-come-first-served).
    public func join(sequence: Int, lastToken: Int, generated: Int, params: SamplingParams, sampler: Sampler, context: [Int32] = [],
                     priority: Int32 = 0, sink: @escaping Sink) -> Ticket {
        let stop = StopCondition(params: params, eosTokenIDs: model.config.eosTokenIDs)
        let ticket = Ticket(sequence: sequence, sampler: sampler, stop: stop, sink: sink, priority: priority, lastToken: lastToken,
                            generated: generated)
        if speculation != nil {
            ticket.history.reserveCapacity(context.count + 1 + max(0, params.maxNewTokens - generated))   // appends never reallocate
            ticket.history.append(contentsOf: context)
            ticket.history.append(Int32(lastToken))
        }
        condition.lock()
        let accepted = running
        if accepted { waiting.append(ticket); claims.append((priority, pagesToAdd(ticket))) }
        condition.broadcast()
        condition.unlock()
        if !accepted { sink(nil, .finished(.cancelled)) }
        return ticket
    }

    /// The sequence leaves at the next step boundary; its sink then gets (nil, cancelled).
    public func cancel(_ ticket: Ticket) {
        condition.lock()
        ticket.cancelled = true
        condition.broadcast()
        condition.unlock()
    }

    // `active` belongs to the batcher thread; `waiting` and the cancel flags to the lock.
    private func loop() {
        active.reserveCapacity(maxBatch)
        condition.lock(); claims.reserveCapacity(2 * maxBatch); condition.unlock()
        while true {
            condition.lock()
            claims.removeAll(keepingCapacity: true)   // finished sequences' claims go before the loop sleeps
            for t in active { claims.append((t.priority, pagesToAdd(t))) }
            for t in waiting { claims.append((t.priority, pagesToAdd(t))) }
            while running && waiting.isEmpty && active.isEmpty { condition.wait() }
            if !running {
                let leaving = active + waiting
                active.removeAll(); waiting.removeAll()
                condition.unlock()
                for t in leaving { t.sink(nil, .finished(.cancelled)) }
                condition.lock()
                thread = nil
                condition.broadcast()
                condition.unlock()
                return
            }
            while active.count < maxBatch && !waiting.isEmpty {   // lowest priority value first, then in order of joining
                var next = 0
                for (i, t) in waiting.enumerated() where t.priority < waiting[next].priority { next = i }
                active.append(waiting.remove(at: next))
            }
            for t in active where t.cancelled { t.done = true }
            condition.unlock()
            for t in active where t.done { t.sink(nil, .finished(.cancelled)) }
            active.removeAll { $0.done }
            holdNextPositions()
            if !active.isEmpty { step() }
        }
    }

    /// Pages `t` has yet to add to hold its limit (0 for a sequence the cache no longer knows).
    private func pagesToAdd(_ t: Ticket) -> Int {
        guard let limit = try? cache.limit(of: t.sequence), let held = try? cache.capacity(of: t.sequence) else { return 0 }
        return cache.pagesNeeded(forTokens: limit) - cache.pagesNeeded(forTokens: held)
    }

    /// Pages for each active sequence's next position, oldest first; when none are free, the
    /// latest to join among the highest priority values is preempted (it may be the sequence itself).
    /// A sequence that cannot grow at all (an error) fails alone. No allocation unless something is preempted.
    private func holdNextPositions() {
        var i = 0
        while i < active.count {
            let t = active[i]
            let held: Bool
            do {
                let next = try cache.length(of: t.sequence) + 1
                held = try next <= cache.capacity(of: t.sequence) || cache.grow(t.sequence, toHold: next)   // the lock only to grow
            } catch {
                active.remove(at: i)
                t.sink(nil, .failed(error))
                continue
            }
            if held { i += 1; continue }
            var v = active.count - 1
            for j in stride(from: active.count - 2, through: 0, by: -1) where active[j].priority > active[v].priority { v = j }
            let victim = active.remove(at: v)
            if v < i { i -= 1 }   // the growing sequence moved down one; it tries again
            cache.release(victim.sequence)
            preemptions += 1
            victim.sink(nil, .preempted)
        }
    }

    /// One batched forward over `active` (each sequence's token, then its drafts), then each
    /// sequence's tokens sampled in order: its first row's, and each next row's while the token just
    /// sampled equals that row's draft. Allocation-free once warm.
    private func step() {
        let vocab = model.config.vocabSize
        var rows = 0
        // Rows free in the last weight pass the batch pays for (see the type's comment).
        let passRows = SkinnyLinear.maxRows
        var spareRows = speculation == nil ? 0 : (active.count + passRows - 1) / passRows * passRows - active.count
        for (i, t) in active.enumerated() {
            let position: Int
            do { position = try cache.length(of: t.sequence) } catch { position = -1 }   // the model's step reports it
            t.firstRow = rows
            stepTokens[rows] = Int32(t.lastToken); stepSequences[rows] = t.sequence; stepPositions[rows] = Int32(position)
            rows += 1
            let share = (spareRows + active.count - i - 1) / (active.count - i)   // a sequence without drafts leaves its share to the next
            t.drafts = position < 0 ? 0 : propose(for: t, at: position, row: rows, budget: share)
            for d in 0..<t.drafts { stepSequences[rows + d] = t.sequence; stepPositions[rows + d] = Int32(position + 1 + d) }
            rows += t.drafts
            spareRows -= t.drafts
        }
        do {
            try stepTokens.withUnsafeBufferPointer { toks in
                try stepSequences.withUnsafeBufferPointer { seqs in
                    try stepPositions.withUnsafeBufferPointer { pos in
                        try model.decode(tokens: UnsafeBufferPointer(rebasing: toks[0..<rows]), sequences: UnsafeBufferPointer(rebasing: seqs[0..<rows]),
                                         positions: UnsafeBufferPointer(rebasing: pos[0..<rows]), cache: cache, logits: logits.pointer)
                    }
                }
            }
        } catch {
            for t in active { t.sink(nil, .failed(error)) }
            active.removeAll()
            return
        }
        steps += 1
        largestBatch = max(largestBatch, active.count)
        var speculated = SpeculationStep()
        for t in active {
            var row = t.firstRow
            while true {
                let token = t.sampler.sample(logits: UnsafeBufferPointer(start: logits.pointer + row * vocab, count: vocab))
                t.lastToken = token.token
                t.generated += 1
                if speculation != nil { t.history.append(Int32(token.token)) }
                let finish = t.stop.finish(after: token.token, generated: t.generated)
                t.done = finish != nil
                t.sink(token, finish.map { .finished($0) })
                // The next row ran on this row's draft: its logits are the next token's when the draft was right.
                guard !t.done, row + 1 < t.firstRow + 1 + t.drafts, Int(stepTokens[row + 1]) == token.token else { break }
                row += 1
            }
            guard t.drafts > 0 else { continue }
            let kept = row - t.firstRow
            speculated.sequences += 1; speculated.drafted += t.drafts; speculated.accepted += kept
            if !t.done {   // the KV of the rejected drafts' rows is dropped (overwritten later)
                try? cache.setLength(Int(stepPositions[t.firstRow]) + 1 + kept, of: t.sequence)
            }
        }
        if speculated.sequences > 0 { onSpeculation(speculated) }
        active.removeAll { $0.done }
    }

    /// Drafts for `t` written as step rows from `row` (tokens only; the caller sets their sequence and
    /// positions): the prompt lookup's, at most `budget`, no more than the request may still generate
    /// after the next token, and only into pages that are free now (drafts never preempt).
    private func propose(for t: Ticket, at position: Int, row: Int, budget: Int) -> Int {
        guard let speculation, budget > 0 else { return 0 }
        let remaining = t.stop.maxNewTokens - t.generated - 1      // tokens after the one this row samples
        var limit = min(speculation.draftTokens, budget, remaining, model.config.maxPositionEmbeddings - position - 1)
        guard limit > 0 else { return 0 }
        do { limit = min(limit, try cache.limit(of: t.sequence) - position - 1) } catch { return 0 }
        guard limit > 0 else { return 0 }
        let found = t.history.withUnsafeBufferPointer { history in
            stepTokens.withUnsafeMutableBufferPointer { rows in
                NgramLookup.propose(history, minNgram: speculation.minNgram, maxNgram: speculation.maxNgram, limit: limit,
                                    into: rows.baseAddress! + row)
            }
        }
        guard found > 0 else { return 0 }
        do {
            let needed = position + 1 + found
            if try needed <= cache.capacity(of: t.sequence) || cache.grow(t.sequence, toHold: needed) { return found }
            return max(0, try cache.capacity(of: t.sequence) - position - 1)
        } catch { return 0 }
    }
}
