import DeepSeekModel
import Foundation
import Kernels
import KVCache

/// Continuous batching for decode: sequences join and leave between steps; every step runs all
/// active sequences as one batched forward (weights streamed once per step, not per sequence).
/// One thread owns the model; joins and cancels come from any thread.
public final class ContinuousBatcher: @unchecked Sendable {
    /// Called on the batcher thread after each step: the token (nil when the sequence ended
    /// without one) and, on the last call for the sequence, how it ended (stop, eos, length,
    /// cancelled, or failed with the decode step's error). After the last call the batcher never
    /// touches the sequence's pages again, so the owner may release them.
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

    /// `sequence` holds the prompt's KV (length = prompt tokens); `lastToken` is the token
    /// sampled from the prompt's last position (already delivered), `generated` counts it. The
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
            if !active.isEmpty { step() }
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
