import ContextParallel
import DeepSeekModel
import Kernels
import KVCache

/// One prompt's generation: the tokens, their log-probabilities, and where the time went.
public struct GenerationOutput: Sendable, Equatable {
    public var promptTokens: [Int32]
    public var tokens: [Int]
    public var logprobs: [Float]
    /// Per token, the request's top_logprobs most likely tokens (empty lists without them).
    public var topLogprobs: [[TokenLogprob]]
    /// With the request's promptLogprobs: prompt tokens 1..<n; nil without.
    public var promptLogprobs: [PromptTokenLogprobs]?
    /// Full-precision logits at the last prompt position.
    public var lastLogits: [Float]
    public var finishReason: FinishReason      // stop (EOS, stop id or stop string) or length
    public var prefillSeconds: Double
    public var decodeSecondsPerToken: Double
}

/// Reference generation (pd-run): PCP prefill on every rank, then batched decode steps on rank 0
/// over the latent cache that the prefill left there. Every rank calls `generate` with the same
/// arguments; ranks other than 0 return nil after the prefill.
///
/// With a bf16 decode cache (`kvDType`), the service pair's rounding point is reproduced: the
/// prompt is prefilled over an f32 cache (as the prefill daemon does, first token included), its
/// rows are then rounded into the bf16 cache (as the decode daemon stores the shipped KV), and
/// decode runs over bf16 rows.
public final class Generator {
    public let model: DeepSeekTransformer
    public let prefill: PrefillEngine
    public let pageSize: Int
    public let kvDType: LatentDType

    public init(model: DeepSeekTransformer, communicator: Communicator = SingleRankCommunicator(),
                chunkTokens: Int? = nil, pageSize: Int = 16, kvDType: LatentDType = .f32) {
        self.model = model
        self.prefill = PrefillEngine(model: model, communicator: communicator, chunkTokens: chunkTokens)
        self.pageSize = pageSize
        self.kvDType = kvDType
    }

    /// `textStops[i]`, when given, sees each token sampled for prompt i in order and answers the stop
    /// string of that request it completed, if any (the sequence then ends with `.stop(.text(that))`).
    public func generate(prompts: [[Int32]], params: [SamplingParams],
                         textStops: [((Int) -> String?)?]? = nil) throws -> [GenerationOutput]? {
        let c = model.config
        precondition(prompts.count == params.count, "one SamplingParams per prompt")
        precondition(textStops == nil || textStops!.count == prompts.count, "one text stop check (or nil) per prompt")
        for (prompt, p) in zip(prompts, params) { try Admission.validate(prompt: prompt, params: p, config: c) }
        let grammars = try params.map { try Admission.grammar(for: $0, model: model) }
        let stops = params.map { StopCondition(params: $0, eosTokenIDs: c.eosTokenIDs) }
        let capacities = zip(prompts, params).map { $0.count + $1.maxNewTokens }
        let cache = try makeCache(capacities: capacities, dtype: .f32)
        let sequences = try capacities.map { try cache.allocate(capacity: $0) }

        let start = monotonicSeconds()
        let wants = params.map(\.promptLogprobs)
        let logits = try prefill.run(prompts: prompts, sequences: sequences, cache: cache,
                                     promptLogprobs: wants.contains { $0 != nil } ? wants : nil)
        let prefillSeconds = monotonicSeconds() - start
        guard let logits else { return nil }
        let (decodeCache, decodeSequences) = kvDType == .f32
            ? (cache, sequences) : try transfer(sequences, lengths: prompts.map(\.count), from: cache, dtype: kvDType)

        let samplers = prompts.indices.map {
            Sampler(params: params[$0], vocabSize: c.vocabSize, prompt: prompts[$0].map { Int($0) }, eosTokenIDs: c.eosTokenIDs,
                    grammar: grammars[$0])
        }
        var outputs = prompts.indices.map { i in
            GenerationOutput(promptTokens: prompts[i], tokens: [], logprobs: [], topLogprobs: [], lastLogits: logits[i], finishReason: .length,
                             prefillSeconds: prefillSeconds, decodeSecondsPerToken: 0)
        }
        for i in prompts.indices where params[i].promptLogprobs != nil { outputs[i].promptLogprobs = prefill.promptLogprobs[i] }
        var active: [Int] = []
        for i in prompts.indices {
            let first = logits[i].withUnsafeBufferPointer { samplers[i].sample(logits: $0) }
            if record(first, into: &outputs[i], stop: stops[i], textStop: textStops?[i]) { active.append(i) }
        }
        // Decode: one batched step over every unfinished sequence; buffers sized once.
        let batchCapacity = prompts.count
        var stepTokens = [Int32](repeating: 0, count: batchCapacity), stepSequences = [Int](repeating: 0, count: batchCapacity)
        let stepLogits = Scratch(capacity: batchCapacity * c.vocabSize)
        var decodeSteps = 0
        let decodeStart = monotonicSeconds()
        while !active.isEmpty {
            let b = active.count
            for (k, i) in active.enumerated() { stepTokens[k] = Int32(outputs[i].tokens.last!); stepSequences[k] = decodeSequences[i] }
            try stepTokens.withUnsafeBufferPointer { toks in
                try stepSequences.withUnsafeBufferPointer { seqs in
                    try model.decode(tokens: UnsafeBufferPointer(rebasing: toks[0..<b]), sequences: UnsafeBufferPointer(rebasing: seqs[0..<b]),
                                     cache: decodeCache, logits: stepLogits.pointer)
                }
            }
            decodeSteps += 1
            var k = 0
            active.removeAll { i in
                defer { k += 1 }
                let token = samplers[i].sample(logits: UnsafeBufferPointer(start: stepLogits.pointer + k * c.vocabSize, count: c.vocabSize))
                return !record(token, into: &outputs[i], stop: stops[i], textStop: textStops?[i])
            }
        }
        let perToken = decodeSteps > 0 ? (monotonicSeconds() - decodeStart) / Double(decodeSteps) : 0
        for i in outputs.indices { outputs[i].decodeSecondsPerToken = perToken }
        for s in decodeSequences { decodeCache.release(s) }
        return outputs
    }

    private func makeCache(capacities: [Int], dtype: LatentDType) throws -> PagedLatentCache {
        let c = model.config
        let pages = capacities.reduce(0) { $0 + ($1 + pageSize - 1) / pageSize }
        return try PagedLatentCache(layers: c.numHiddenLayers, rowWidth: c.latentRowWidth, pageSize: pageSize, pageCount: pages, dtype: dtype)
    }

    /// The prefilled rows of `sequences` moved into a new `dtype` cache of the same capacities (the
    /// decode daemon's KV receipt: `write` rounds as the bf16 wire and the bf16 assembler do), with
    /// their ids there, in order.
    private func transfer(_ sequences: [Int], lengths: [Int], from source: PagedLatentCache,
                          dtype: LatentDType) throws -> (PagedLatentCache, [Int]) {
        let c = model.config, rw = c.latentRowWidth
        let target = try makeCache(capacities: try sequences.map { try source.capacity(of: $0) }, dtype: dtype)
        let rows = Scratch(capacity: (lengths.max() ?? 0) * rw)           // [prompt, rowWidth]
        var moved: [Int] = []
        for (s, length) in zip(sequences, lengths) {
            let t = try target.allocate(capacity: try source.capacity(of: s))
            moved.append(t)
            for l in 0..<c.numHiddenLayers {
                try source.read(sequence: s, layer: l, start: 0, count: length, into: rows.pointer)
                try target.write(sequence: t, layer: l, start: 0, rows: rows.pointer, count: length)
            }
            try target.setLength(length, of: t)
            source.release(s)
        }
        return (target, moved)
    }

    /// Appends a sampled token; returns whether the sequence goes on.
    private func record(_ t: SampledToken, into out: inout GenerationOutput, stop: StopCondition,
                        textStop: ((Int) -> String?)?) -> Bool {
        out.tokens.append(t.token)
        out.logprobs.append(t.logprob)
        out.topLogprobs.append(t.topLogprobs)
        let stopString = textStop?(t.token)
        guard let reason = stop.finish(after: t.token, generated: out.tokens.count, stopString: stopString) else { return true }
        out.finishReason = reason
        return false
    }
}
