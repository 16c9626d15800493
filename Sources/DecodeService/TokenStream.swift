import Engine
import Foundation
import ServiceSupport
import StructuredOutput

/// One sequence's decode, without transport: joins the continuous batch and hands its tokens to
/// `send` as they come (batched while a send is in flight), the last call with the finish reason. A
/// caller that leaves (`isCancelled`, or a failed send) takes the sequence out of the batch at the
/// next step. Returns only after the batcher's last call for the sequence, so its pages may be
/// released then; a preempted sequence returns `.preempted` after every token so far was sent, and
/// joins again in a new stream with the same sampler once its KV is back.
struct TokenStream {
    let batcher: ContinuousBatcher
    let sequence: Int
    /// The latest sampled token (sent already; its KV is not in the sequence yet).
    let lastToken: Int
    /// Tokens generated so far, `lastToken` included.
    let generatedBefore: Int
    /// The request's sampler, whose state (RNG, penalties, structured output) carries across preemptions.
    let sampler: Sampler
    let params: Engine.SamplingParams
    /// The tokens before `lastToken` (prompt, then output): where speculation looks its drafts up.
    var context: [Int32] = []
    /// vLLM's request priority (lower first); 0 under first-come-first-served.
    var priority: Int32 = 0
    let isCancelled: () -> Bool
    /// The tokens since the last call; the finish reason on the last call only.
    let send: (_ tokens: [SampledToken], _ finish: FinishReason?) throws -> Void

    /// How the sequence ended — finished (reason sent), cancelled (the caller left: nothing more
    /// sent), failed (the decode step's error) or preempted (everything sent) — and how many tokens
    /// this stream generated. A failed last send throws.
    func run() throws -> (end: GenerationEnd, generated: Int) {
        let queue = BlockingQueue<(SampledToken?, GenerationEnd?)>()
        let ticket = batcher.join(sequence: sequence, lastToken: lastToken, generated: generatedBefore, params: params,
                                  sampler: sampler, context: context, priority: priority) { token, end in queue.push((token, end)) }
        var callerGone = false
        var pending: [SampledToken] = []
        var generated = 0
        while true {
            let next = queue.pop(timeout: 0.05)
            // Checked on every token too: a cancelled call's sends can still succeed for a while, and
            // each step spent on a departed caller is a step the batch could use.
            if !callerGone && isCancelled() { callerGone = true; batcher.cancel(ticket) }
            guard let (token, end) = next else { continue }
            if let token { pending.append(token); generated += 1 }
            if let end {
                if case .failed = end { return (end, generated) }
                if callerGone || end.reason == .cancelled { return (.finished(.cancelled), generated) }
                if case .preempted = end {
                    if !pending.isEmpty {
                        do { try send(pending, nil) } catch { return (.finished(.cancelled), generated) }
                    }
                    return (end, generated)
                }
                try send(pending, end.reason)
                return (end, generated)
            }
            // Send what has arrived; tokens that come while this send is in flight go together next time.
            if !callerGone && queue.count == 0 {
                do { try send(pending, nil); pending.removeAll(keepingCapacity: true) } catch {
                    callerGone = true
                    batcher.cancel(ticket)
                }
            }
        }
    }
}
