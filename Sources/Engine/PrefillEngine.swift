import ContextParallel
import DeepSeekModel
import Kernels
import KVCache

/// Runs the PCP prefill of a batch of prompts on every rank of a communicator (P = 1 is the same
/// path with a trivial communicator), optionally in chunks of `chunkTokens` per request: each chunk
/// is its own PCP step attending to the cache of the earlier chunks. Every rank must call `run`
/// with the same prompts in the same order.
public final class PrefillEngine {
    public let model: DeepSeekTransformer
    public let communicator: Communicator
    public let chunkTokens: Int?

    /// Counters of the last run (this rank).
    public private(set) var latentGathers = 0
    public private(set) var bytesGathered = 0
    public private(set) var gatherSeconds = 0.0
    public private(set) var steps = 0
    /// Steps every rank abandoned at a layer boundary because all their prompts were cancelled.
    public private(set) var abandonedSteps = 0
    /// Per prompt of the last run that asked (`promptLogprobs`), its tokens 1..<n given the tokens before
    /// each (vLLM's prompt_logprobs without the first token's None), each with the k it asked for;
    /// empty for the others.
    public private(set) var promptLogprobs: [[PromptTokenLogprobs]] = []
    /// Prompts of the last run whose rows are all in the cache (not dropped); the same on every rank.
    public private(set) var completed: [Int] = []

    /// Tiled causal attention's useful FLOP rate over sgemm's on the same core: 75 vs 104 GFLOP/s
    /// (exp, the online softmax, the masked halves of diagonal tiles), timed around both loops of
    /// the prefill attention at 4096 tokens (session 3, BENCHMARKS "PCP").
    public static let attentionSpeedRelativeToGEMM = 0.72

    /// What the shard plan balances is time: a key's decompression is a kv_b GEMM row, worth
    /// `decompressionCostInPairs` query·key pairs in FLOPs but only this many in time. With the FLOP
    /// ratio rank 1 of 2 (whose tail sees fewer keys) was the slower rank in most runs; paired
    /// rounds in session 4, 2 ranks / 1 rank × 2 threads: mean 0.987 over 24 rounds with this, 0.998
    /// over 29 with the FLOP ratio (BENCHMARKS "PCP").
    public static func keyCostInPairs(_ config: DeepSeekConfig) -> Double {
        config.decompressionCostInPairs * attentionSpeedRelativeToGEMM
    }

    public init(model: DeepSeekTransformer, communicator: Communicator, chunkTokens: Int? = nil) {
        self.model = model
        self.communicator = communicator
        self.chunkTokens = chunkTokens
    }

    /// Prefills prompts into `cache` under `sequences` (allocated by the caller with capacity ≥
    /// prompt length). onLayer(layer, finished) fires as soon as a layer's rows are in the cache for
    /// the prompts (indices into `prompts`) whose last chunk ran in this step: from then on those
    /// rows are final and can be shipped. Returns last-position logits on rank 0 (an empty row for
    /// a dropped prompt).
    ///
    /// `cancellation` (pass it on every rank or on none): before each chunked step after the
    /// first, rank 0 asks it which prompts were cancelled and broadcasts their indices, so every
    /// rank drops them from the rest of the batch together. Within a step, after every layer but
    /// the last, rank 0 also tells every rank (one 1-byte broadcast) whether all of the step's
    /// prompts are cancelled; if so, every rank abandons the step at that layer boundary, so a
    /// cancelled or timed-out request stops costing compute within one layer.
    ///
    /// `promptLogprobs`: per prompt, nil or the k most likely tokens it wants listed with its prompt
    /// tokens' logprobs (`promptLogprobs` after the run); every rank computes them for its rows of the
    /// prompts that asked.
    ///
    /// `cachedPrefix`: per prompt, how many of its first tokens' rows the sequence already holds (a
    /// prefix cache's pages); computing starts after them. Fewer than the prompt's tokens, and 0 for
    /// a prompt that asks for prompt logprobs (those need every position's logits).
    public func run(prompts: [[Int32]], sequences: [Int], cache: PagedLatentCache, cachedPrefix: [Int]? = nil,
                    cancellation: ((Int) -> Bool)? = nil, promptLogprobs wants: [Int?]? = nil,
                    onLayer: ((_ layer: Int, _ finished: [Int]) throws -> Void)? = nil) throws -> [[Float]]? {
        latentGathers = 0; bytesGathered = 0; gatherSeconds = 0; steps = 0; abandonedSteps = 0
        completed = []
        let top = wants?.compactMap { $0 }.max()
        if let wants, wants.count != prompts.count { throw ModelError.badLayout("\(wants.count) prompt-logprob requests for \(prompts.count) prompts") }
        promptLogprobs = prompts.map { _ in [] }
        for p in prompts where p.isEmpty { throw ModelError.emptyPrompt }
        let prefix = cachedPrefix ?? [Int](repeating: 0, count: prompts.count)
        guard prefix.count == prompts.count else { throw ModelError.badLayout("\(prefix.count) cached prefixes for \(prompts.count) prompts") }
        for (i, n) in prefix.enumerated() where n < 0 || n >= prompts[i].count || (n > 0 && wants?[i] != nil) {
            throw ModelError.badLayout("cached prefix of \(n) tokens for prompt \(i) of \(prompts[i].count) tokens\(wants?[i] != nil ? " that asks for prompt logprobs" : "")")
        }
        let longest = zip(prompts, prefix).map { $0.count - $1 }.max() ?? 0
        let chunk = max(chunkTokens ?? longest, 1)
        var done = prefix
        var logits = [[Float]](repeating: [], count: prompts.count)
        var anyLogits = false
        var dropped = Set<Int>()
        while true {
            // Requests with tokens left take their next chunk; finished ones sit this step out.
            var active = prompts.indices.filter { done[$0] < prompts[$0].count && !dropped.contains($0) }
            if let cancellation, steps > 0, !active.isEmpty {
                let mine = communicator.rank == 0 ? active.filter(cancellation).map { UInt32($0) } : []
                let bytes = try communicator.broadcastBytes(communicator.rank == 0 ? mine.withUnsafeBytes { Array($0) } : nil, root: 0)
                let cancelled = bytes.withUnsafeBytes { Array($0.bindMemory(to: UInt32.self)) }.map { Int($0) }
                dropped.formUnion(cancelled)
                active.removeAll { dropped.contains($0) }
            }
            if active.isEmpty { break }
            let newTokens = active.map { Array(prompts[$0][done[$0]..<min(done[$0] + chunk, prompts[$0].count)]) }
            let prefixes = active.map { done[$0] }
            let finishing = active.filter { done[$0] + chunk >= prompts[$0].count }
            let plan = ShardPlan(lengths: newTokens.map(\.count), ranks: communicator.size,
                                 keyCost: Self.keyCostInPairs(model.config))
            let layout = plan.layout(rank: communicator.rank, newTokens: newTokens, cachedPrefix: prefixes)
            let exchange = PCPExchange(communicator: communicator, plan: plan)
            let lastLayer = model.config.numHiddenLayers - 1
            let stepActive = active
            let layerHook: ((Int) throws -> Void)? = (onLayer == nil && cancellation == nil) ? nil : { layer in
                try onLayer?(layer, finishing)
                guard let cancellation, layer < lastLayer else { return }
                let verdict: [UInt8]? = self.communicator.rank == 0 ? [stepActive.allSatisfy(cancellation) ? 1 : 0] : nil
                if try self.communicator.broadcastBytes(verdict, root: 0).first == 1 { throw StepAbandoned(layer: layer) }
            }
            let stepLogits: [[Float]]?
            do {
                stepLogits = try model.prefill(layout, sequences: active.map { sequences[$0] }, cache: cache,
                                               exchange: exchange, onLayer: layerHook)
            } catch is StepAbandoned {
                // Every rank threw at the same layer boundary: drop the step's prompts and go on.
                latentGathers += exchange.latentGathers
                bytesGathered += exchange.bytesGathered
                gatherSeconds += exchange.gatherSeconds
                dropped.formUnion(active)
                abandonedSteps += 1
                continue
            }
            latentGathers += exchange.latentGathers
            bytesGathered += exchange.bytesGathered
            gatherSeconds += exchange.gatherSeconds
            steps += 1
            if let top {
                try collectPromptLogprobs(layout: layout, active: active, prompts: prompts, wants: wants!, newTokens: newTokens,
                                          prefixes: prefixes, top: top, exchange: exchange)
            }
            for (k, i) in active.enumerated() {
                done[i] += newTokens[k].count
                if done[i] == prompts[i].count, let stepLogits {
                    logits[i] = stepLogits[k]
                    anyLogits = true
                }
            }
        }
        for (i, s) in sequences.enumerated() where !dropped.contains(i) { try cache.setLength(prompts[i].count, of: s) }
        completed = prompts.indices.filter { !dropped.contains($0) }
        return anyLogits ? logits : nil
    }
}

extension PrefillEngine {
    /// The step's prompt logprobs: each local row's target is the prompt's token at the next position.
    private func collectPromptLogprobs(layout: PrefillLayout, active: [Int], prompts: [[Int32]], wants: [Int?], newTokens: [[Int32]],
                                       prefixes: [Int], top: Int, exchange: LatentExchange) throws {
        var targets = [Int32](repeating: -1, count: layout.localRows)
        for b in layout.blocks where wants[active[b.request]] != nil {
            let prompt = prompts[active[b.request]]
            for j in 0..<b.count where b.firstPosition + j + 1 < prompt.count { targets[b.localStart + j] = prompt[b.firstPosition + j + 1] }
        }
        let rows = try model.promptLogprobs(layout: layout, targets: targets, top: top, exchange: exchange)
        let width = DeepSeekTransformer.promptLogprobsWidth(top: top)
        var row = 0
        for (k, i) in active.enumerated() {
            for j in 0..<newTokens[k].count {
                defer { row += 1 }
                // The last position predicts the first new token, not a prompt token.
                guard wants[i] != nil, prefixes[k] + j + 1 < prompts[i].count else { continue }
                let r = rows + row * width
                let kept = min(wants[i]!, model.config.vocabSize)   // each prompt its own k of the batch's `top`
                promptLogprobs[i].append(PromptTokenLogprobs(
                    logprob: r[0], rank: Int(r[1]),
                    top: (0..<kept).map { TokenLogprob(token: Int(r[2 + $0]), logprob: r[2 + top + $0]) }))
            }
        }
    }
}

/// A prompt token's log-probability given the tokens before it (vLLM's prompt_logprobs), its rank
/// there (1 + the tokens strictly more likely), and the k most likely tokens, most likely first.
public struct PromptTokenLogprobs: Sendable, Equatable {
    public let logprob: Float
    public let rank: Int
    public let top: [TokenLogprob]

    public init(logprob: Float, rank: Int, top: [TokenLogprob]) {
        self.logprob = logprob
        self.rank = rank
        self.top = top
    }
}

/// Thrown on every rank at the same layer boundary when all of a step's prompts are cancelled.
private struct StepAbandoned: Error { let layer: Int }
