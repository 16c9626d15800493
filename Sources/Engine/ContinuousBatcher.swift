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
/// releases its pages and its sink gets (nil, .preempted).
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
        fileprivate var lastToken: Int
        fileprivate var generated: Int
        fileprivate var cancelled = false
        fileprivate var done = false
        fileprivate init(sequence: Int, sampler: Sampler, stop: StopCondition, sink: @escaping Sink, lastToken: Int, generated: Int) {
            self.sequence = sequence; self.sampler = sampler; self.stop = stop; self.sink = sink
            self.lastToken = lastToken; self.generated = generated
        }
    }

    public let model: DeepSeekTransformer
    public let cache: PagedLatentCache
    public let maxBatch: Int
    private let condition = NSCondition()
    private var waiting: [Ticket] = []
    private var active: [Ticket] = []
    private var running = false
    private var thread: Thread?
    private var stepTokens: [Int32], stepSequences: [Int]
    private let logits: Scratch
    public private(set) var steps = 0
    /// Most sequences one step has run (written by the batcher thread).
    public private(set) var largestBatch = 0
    /// Sequences preempted for pages so far (written by the batcher thread).
    public private(set) var preemptions = 0

    public init(model: DeepSeekTransformer, cache: PagedLatentCache, maxBatch: Int = 32) {
        self.model = model
        self.cache = cache
        self.maxBatch = maxBatch
        stepTokens = [Int32](repeating: 0, count: maxBatch)
        stepSequences = [Int](repeating: 0, count: maxBatch)
        logits = Scratch(capacity: maxBatch * model.config.vocabSize)
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
    /// sequence stops by `StopCondition` (params + the model's EOS ids).
    public func join(sequence: Int, lastToken: Int, generated: Int, params: SamplingParams, sampler: Sampler, sink: @escaping Sink) -> Ticket {
        let stop = StopCondition(params: params, eosTokenIDs: model.config.eosTokenIDs)
        let ticket = Ticket(sequence: sequence, sampler: sampler, stop: stop, sink: sink, lastToken: lastToken, generated: generated)
        condition.lock()
        let accepted = running
        if accepted { waiting.append(ticket) }
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
        while true {
            condition.lock()
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
            while active.count < maxBatch && !waiting.isEmpty { active.append(waiting.removeFirst()) }
            for t in active where t.cancelled { t.done = true }
            condition.unlock()
            for t in active where t.done { t.sink(nil, .finished(.cancelled)) }
            active.removeAll { $0.done }
            holdNextPositions()
            if !active.isEmpty { step() }
        }
    }

    /// Pages for each active sequence's next position, oldest first; when none are free, the
    /// latest to join is preempted (the sequence itself when it is the latest). A sequence that
    /// cannot grow at all (an error) fails alone. No allocation unless something is preempted.
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
            let victim = active.removeLast()
            cache.release(victim.sequence)
            preemptions += 1
            victim.sink(nil, .preempted)
        }
    }

    /// One batched forward over `active`, one sampled token each. Allocation-free once warm.
    private func step() {
        let b = active.count, vocab = model.config.vocabSize
        for i in 0..<b { stepTokens[i] = Int32(active[i].lastToken); stepSequences[i] = active[i].sequence }
        do {
            try stepTokens.withUnsafeBufferPointer { toks in
                try stepSequences.withUnsafeBufferPointer { seqs in
                    try model.decode(tokens: UnsafeBufferPointer(rebasing: toks[0..<b]), sequences: UnsafeBufferPointer(rebasing: seqs[0..<b]),
                                     cache: cache, logits: logits.pointer)
                }
            }
        } catch {
            for t in active { t.sink(nil, .failed(error)) }
            active.removeAll()
            return
        }
        steps += 1
        largestBatch = max(largestBatch, b)
        for i in 0..<b {
            let t = active[i]
            let token = t.sampler.sample(logits: UnsafeBufferPointer(start: logits.pointer + i * vocab, count: vocab))
            t.lastToken = token.token
            t.generated += 1
            let finish = t.stop.finish(after: token.token, generated: t.generated)
            t.done = finish != nil
            t.sink(token, finish.map { .finished($0) })
        }
        active.removeAll { $0.done }
    }
}
