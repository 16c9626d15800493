import Engine
import Foundation
import ServiceSupport
import StructuredOutput

/// One sequence's decode, without transport: joins the continuous batch after the first token and
/// hands its tokens to `send` as they come (batched while a send is in flight), the last call with
/// the finish reason. A caller that leaves (`isCancelled`, or a failed send) takes the sequence out
/// of the batch at the next step. Returns only after the batcher's last call for the sequence, so
/// its pages may be released then.
struct TokenStream {
    let batcher: ContinuousBatcher
    let sequence: Int
    let first: SampledToken
    /// The sequence's prompt (the repetition penalty counts its tokens).
    let prompt: [Int]
    let params: Engine.SamplingParams
    /// What a structured output samples under (admission's).
    var grammar: StructuredGrammar? = nil
    let isCancelled: () -> Bool
    /// The tokens since the last call; the finish reason on the last call only.
    let send: (_ tokens: [SampledToken], _ finish: FinishReason?) throws -> Void

    /// How the sequence ended — finished (reason sent), cancelled (the caller left: nothing more
    /// sent), or failed (the decode step's error) — and how many tokens the batch generated after
    /// the first. A failed last send throws.
    func run() throws -> (end: GenerationEnd, generated: Int) {
        let queue = BlockingQueue<(SampledToken?, GenerationEnd?)>()
        // The prefill daemon drew the first token from the same seed: continue its stream.
        let sampler = Sampler(params: params, vocabSize: batcher.model.config.vocabSize, prompt: prompt,
                              previousTokens: [first.token], eosTokenIDs: batcher.model.config.eosTokenIDs, grammar: grammar)
        let ticket = batcher.join(sequence: sequence, lastToken: first.token, generated: 1, params: params,
                                  sampler: sampler) { token, end in queue.push((token, end)) }
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
