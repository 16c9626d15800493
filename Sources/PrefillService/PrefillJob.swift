import Engine
import Foundation
import KVCache
import ServiceSupport
import StructuredOutput

/// What the scheduler tells a job's owner (the Prefill call's handler thread).
enum PrefillEvent {
    case layerReady(Int)                   // this layer's rows of the job are final in the cache
    /// computeEnd: monotonic seconds; promptLogprobs: with the request's prompt_logprobs (else empty).
    case done(first: SampledToken, promptLogprobs: [PromptTokenLogprobs], seconds: Double, computeEnd: Double)
    case failed(PrefillFailure)
}

/// Why a job ended without its first token.
enum PrefillFailure: Error, CustomStringConvertible {
    case cancelledBeforePrefill
    case cancelledDuringPrefill
    case computeFailed(String)             // the ranks' agreed failure

    var description: String {
        switch self {
        case .cancelledBeforePrefill: return "cancelled before prefill"
        case .cancelledDuringPrefill: return "cancelled during prefill"
        case .computeFailed(let why): return "prefill failed: \(why)"
        }
    }
}

/// One prompt to prefill, shared by its owner (which ships its rows) and the scheduler (which
/// computes them). Its cache sequence is released by whichever of the two lets go last, so rows
/// are never freed while the compute writes them or the owner still reads them.
final class PrefillJob: @unchecked Sendable {
    let id: String
    let prompt: [Int32]
    let sampling: Engine.SamplingParams
    /// What a structured output samples under (admission's).
    let grammar: StructuredGrammar?
    /// The prefix cache's salt: pages are shared only among prompts with the same one.
    let cacheSalt: String
    /// The request's priority (lower first): the scheduler batches queued jobs by it, then by arrival.
    let priority: Int32
    let arrival = Date()
    let events = BlockingQueue<PrefillEvent>()
    private let lock = NSLock()
    private var cancelled = false
    private var owners = 2                 // owner + scheduler
    private(set) var sequence: Int?
    /// Leading prompt tokens whose rows came from the prefix cache (set with the sequence).
    private(set) var cachedTokens = 0
    private let cache: PagedLatentCache

    init(id: String, prompt: [Int32], sampling: Engine.SamplingParams, grammar: StructuredGrammar?, cacheSalt: String = "",
         priority: Int32 = 0, cache: PagedLatentCache) {
        self.id = id
        self.prompt = prompt
        self.sampling = sampling
        self.grammar = grammar
        self.cacheSalt = cacheSalt
        self.priority = priority
        self.cache = cache
    }

    var isCancelled: Bool { lock.lock(); defer { lock.unlock() }; return cancelled }

    func cancel() { lock.lock(); cancelled = true; lock.unlock() }

    /// Called by the scheduler once pages are reserved for the job (the first `cachedTokens` rows shared).
    func assign(sequence: Int, cachedTokens: Int) {
        lock.lock(); self.sequence = sequence; self.cachedTokens = cachedTokens; lock.unlock()
    }

    /// Each owner calls this once when done with the job's rows.
    func letGo() {
        lock.lock()
        owners -= 1
        let release = owners == 0 ? sequence : nil
        if owners == 0 { sequence = nil }
        lock.unlock()
        if let release { cache.release(release) }
    }
}
