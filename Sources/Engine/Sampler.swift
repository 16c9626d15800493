import Kernels
import StructuredOutput
import Tensors
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A token and its log-probability under the full softmax of the raw logits.
public struct TokenLogprob: Sendable, Equatable {
    public let token: Int
    public let logprob: Float

    public init(token: Int, logprob: Float) {
        self.token = token
        self.logprob = logprob
    }
}

/// One sampled token and its log-probability under the full softmax of the raw logits (temperature 1,
/// before any logits processor), as vLLM reports by default; with `topLogprobs` k, the k most likely
/// tokens of that distribution, most likely first (ties: lower id first).
public struct SampledToken: Sendable, Equatable {
    public let token: Int
    public let logprob: Float
    public let topLogprobs: [TokenLogprob]

    public init(token: Int, logprob: Float, topLogprobs: [TokenLogprob] = []) {
        self.token = token
        self.logprob = logprob
        self.topLogprobs = topLogprobs
    }
}

/// Per-sequence sampler with its own RNG (seeded: same seed + same logits → same tokens) and preallocated
/// scratch sized to the vocab (no allocation per token but the top-logprobs list a request asks for).
/// Not thread-safe: one sampler per sequence.
/// A stochastic sample takes exactly one draw from the RNG, so a sequence sampled in two places (the
/// prefill daemon picks the first token, decode the rest) continues one stream: see `init`.
///
/// Pipeline per token (vLLM's order): the logits processors on a copy of the logits — a structured
/// output (a choice: only the tokens leaving the automaton's current node, and EOS at an accepting one;
/// json_object / json_schema / regex: only the tokens `JSONGrammar` / `JSONSchemaState` / `RegexState` take next, and EOS once
/// the text is whole; vLLM applies its structured-output mask before the processors, and from where a
/// reasoning block ends when `structuredAfter` names its end), allowed_token_ids (every other token
/// −inf), bad words (a word's last token −inf when the generated tokens end with the rest of it),
/// min_tokens (EOS and stop ids to −inf), logit_bias (added), then the penalties (repetition over
/// prompt and output tokens, frequency × count and presence over output tokens) — then temperature →
/// min-p (drops every token whose tempered weight e^((x − max) / T), its probability over the top
/// token's, is below min_p) → top-k (keeps every
/// logit ≥ the k-th largest, so ties at the boundary stay, as HF's `TopKLogitsWarper`) → top-p (the
/// smallest highest-first prefix whose renormalized mass reaches p; always ≥ 1 token) → one draw from
/// the renormalized weights (greedy: the argmax of the processed logits). NaN and −inf logits are never
/// sampled. `params` must have passed `validate(vocabSize:)`.
public final class Sampler {
    public let params: SamplingParams
    public let vocabSize: Int
    /// The seed in use (the given one, or the one drawn from the system), for reproducing a run.
    public let seed: UInt64

    private var rng: SeededRandom   // xoshiro256** seeded by SplitMix64
    private let candidates: UnsafeMutablePointer<Int32>  // [vocab] token ids kept by top-k (then a heap for top-p)
    private let weights: UnsafeMutablePointer<Float>     // [vocab] exp((logit − max) / T), indexed by token
    private let heapValues: UnsafeMutablePointer<Float>  // [vocab] min-heap of the k largest logits
    private let bucketMass: UnsafeMutablePointer<Double> // [nucleusBuckets] weight mass per 1/8-nat bucket
    private let top: UnsafeMutablePointer<Int32>         // [topLogprobs] the most likely tokens, best first

    // Logits processors (allocated only for a request that uses them).
    private let processed: UnsafeMutablePointer<Float>?  // [vocab] the logits the draw sees
    private let outputCounts: UnsafeMutablePointer<Int32>? // [vocab] occurrences among generated tokens
    private var outputTokens: [Int32] = []                // distinct generated tokens, first occurrence order
    private let inPrompt: UnsafeMutablePointer<Bool>?     // [vocab] (repetition penalty only)
    private var promptTokens: [Int32] = []                // distinct prompt tokens
    private let minTokensMasked: [Int]                    // EOS (unless ignore_eos) and stop ids
    /// A processor other than min_tokens applies to every token of the request.
    private let processesEveryToken: Bool
    private let structure: TokenMask?                     // the structured output's state (choice, JSON, JSON Schema)
    private var structureStarted: Bool                    // past params.structuredAfter (or it is empty)
    private let recentTokens: UnsafeMutablePointer<Int32>? // ring of the last (longest bad word − 1) generated tokens
    private let recentCapacity: Int
    private var recentCount = 0, recentNext = 0
    /// Tokens of this sequence sampled so far (by this sampler or, before it, `previousTokens`).
    private var generated: Int

    /// Top-p threshold search: buckets of 1/8 nat below the max; the last one holds everything below 32 nats.
    static let nucleusBuckets = 256
    static let bucketsPerNat: Float = 8

    /// Mass within 1e-6 of p counts as reaching p: p and the softmax are both rounded floats,
    /// so e.g. probs [0.5, 0.3, ...] with p = 0.8 keep exactly two tokens.
    static let topPTolerance = 1e-6

    /// `prompt`: the sequence's prompt (the repetition penalty counts it). `previousTokens`: tokens of
    /// this sequence another sampler with the same seed drew before (decode passes the prefill daemon's
    /// first token): the penalties and min_tokens count them, and the stream resumes after their draws,
    /// so a seeded request yields the same tokens served by the daemon pair as by one process.
    /// `eosTokenIDs`: the model's, masked with the stop ids while fewer than min_tokens are generated.
    /// `grammar`: what a json_object / json_schema / regex output samples under (`Admission.grammar`), required for them.
    public init(params: SamplingParams, vocabSize: Int, prompt: [Int] = [], previousTokens: [Int] = [], eosTokenIDs: [Int] = [],
                grammar: StructuredGrammar? = nil) {
        if vocabSize < 1 { fatalError("Sampler: vocabSize must be ≥ 1, got \(vocabSize)") }
        self.params = params
        self.vocabSize = vocabSize
        var system = SystemRandomNumberGenerator()
        self.seed = params.seed ?? system.next()
        self.rng = SeededRandom(seed: seed)
        if !params.isGreedy { for _ in 0..<previousTokens.count { _ = rng.next() } }
        candidates = Self.scratch(vocabSize, 0)
        weights = Self.scratch(vocabSize, 0)
        heapValues = Self.scratch(vocabSize, 0)
        bucketMass = Self.scratch(Self.nucleusBuckets, 0)
        top = Self.scratch(max(1, params.topLogprobs), 0)
        generated = 0
        let masked = params.minTokens > 0 ? Set(params.stopTokenIDs + (params.ignoreEOS ? [] : eosTokenIDs)).sorted() : []
        minTokensMasked = masked.filter { $0 >= 0 && $0 < vocabSize }
        let eos = eosTokenIDs.filter { $0 >= 0 && $0 < vocabSize }
        structureStarted = params.structuredAfter.isEmpty
        if let choice = params.choice {
            structure = ChoiceWalk(choice, eosTokenIDs: eos)
        } else if params.usesByteGrammar {
            guard let grammar else { fatalError("Sampler: json_object / json_schema / regex need their grammar (Admission.grammar)") }
            structure = grammar.constraint(eosTokenIDs: eos)
        } else {
            structure = nil
        }
        recentCapacity = max(0, (params.badWords.map(\.count).max() ?? 0) - 1)
        recentTokens = recentCapacity > 0 ? Self.scratch(recentCapacity, 0) : nil
        processesEveryToken = params.hasPenalties || !params.logitBias.isEmpty || !params.allowedTokenIDs.isEmpty
            || !params.badWords.isEmpty || params.isStructured
        processed = processesEveryToken || !minTokensMasked.isEmpty ? Self.scratch(vocabSize, 0) : nil
        outputCounts = params.hasPenalties ? Self.scratch(vocabSize, 0) : nil
        if params.hasPenalties { outputTokens.reserveCapacity(params.maxNewTokens + previousTokens.count) }
        inPrompt = params.repetitionPenalty != 1 ? Self.scratch(vocabSize, false) : nil
        if let inPrompt {
            for t in prompt where t >= 0 && t < vocabSize && !inPrompt[t] {
                inPrompt[t] = true
                promptTokens.append(Int32(t))
            }
        }
        for t in previousTokens { record(t) }
    }

    private static func scratch<T>(_ count: Int, _ value: T) -> UnsafeMutablePointer<T> {
        let buffer = UnsafeMutablePointer<T>.allocate(capacity: count)
        buffer.initialize(repeating: value, count: count)
        return buffer
    }

    deinit {
        candidates.deallocate()
        weights.deallocate()
        heapValues.deallocate()
        bucketMass.deallocate()
        top.deallocate()
        processed?.deallocate()
        outputCounts?.deallocate()
        inPrompt?.deallocate()
        recentTokens?.deallocate()
    }

    /// Picks the next token from `logits` ([vocab], raw model output).
    public func sample(logits: UnsafeBufferPointer<Float>) -> SampledToken {
        if logits.count != vocabSize { fatalError("Sampler: got \(logits.count) logits, expected the vocab size \(vocabSize)") }
        let raw = logits.baseAddress.unsafelyUnwrapped
        let x = applyProcessors(raw)
        let (argmax, maxLogit) = Self.argmax(x, count: vocabSize)
        var token = argmax
        var softmaxSum: Double?  // Σ exp(raw − max) over the vocab, when the draw already computed it
        if !params.isGreedy {
            if maxLogit.isFinite {
                (token, softmaxSum) = draw(x, maxLogit: maxLogit)
                if x != UnsafePointer(raw) { softmaxSum = nil }
            } else {
                _ = uniform()  // one draw per stochastic token, also here
            }
        }
        record(token)
        // After the draw (which reads `weights`), so the scratch can be reused here.
        let rawMax = x == UnsafePointer(raw) ? maxLogit : Self.argmax(raw, count: vocabSize).value
        guard rawMax.isFinite else {
            // All masked (−inf), or a +inf logit taking all the mass.
            func logprob(_ t: Int) -> Float { rawMax > 0 && raw[t] == rawMax ? 0 : -.infinity }
            return SampledToken(token: token, logprob: logprob(token), topLogprobs: topTokens(raw).map { TokenLogprob(token: $0, logprob: logprob($0)) })
        }
        let logSum = Float(log(softmaxSum ?? Self.expWeights(raw, count: vocabSize, shift: rawMax, scale: 1, into: weights)))
        return SampledToken(token: token, logprob: raw[token] - rawMax - logSum,
                            topLogprobs: topTokens(raw).map { TokenLogprob(token: $0, logprob: raw[$0] - rawMax - logSum) })
    }

    // MARK: Logits processors

    /// Counts `token` as generated (min_tokens, and the penalties' output tokens).
    private func record(_ token: Int) {
        generated += 1
        if structureStarted { structure?.advance(token) } else { structureStarted = params.structuredAfter.contains(token) }
        if let recentTokens {
            recentTokens[recentNext] = Int32(truncatingIfNeeded: token)
            recentNext = (recentNext + 1) % recentCapacity
            recentCount = min(recentCount + 1, recentCapacity)
        }
        guard let outputCounts, token >= 0 && token < vocabSize else { return }
        if outputCounts[token] == 0 { outputTokens.append(Int32(token)) }
        outputCounts[token] += 1
    }

    /// `raw` itself when no processor applies to this token, else the processed copy (vLLM's order and
    /// Float arithmetic: bias added; repetition divides positive logits, multiplies the others; then
    /// frequency × count and presence subtracted).
    private func applyProcessors(_ raw: UnsafePointer<Float>) -> UnsafePointer<Float> {
        guard let processed else { return raw }
        let masking = generated < params.minTokens
        guard masking || processesEveryToken else { return raw }
        if let structure, structureStarted {
            processed.update(repeating: -.infinity, count: vocabSize)
            structure.forEachAllowed { processed[$0] = raw[$0] }
        } else if params.allowedTokenIDs.isEmpty {
            processed.update(from: raw, count: vocabSize)
        } else {
            processed.update(repeating: -.infinity, count: vocabSize)
            for t in params.allowedTokenIDs { processed[t] = raw[t] }
        }
        for word in params.badWords where endsWithAllButLast(word) { processed[word[word.count - 1]] = -.infinity }
        for entry in params.logitBias { processed[entry.token] += entry.bias }
        if masking { for t in minTokensMasked { processed[t] = -.infinity } }
        let repetition = params.repetitionPenalty
        if repetition != 1 {
            @inline(__always) func penalize(_ t: Int32) {
                let v = processed[Int(t)]
                processed[Int(t)] = v > 0 ? v / repetition : v * repetition
            }
            for t in promptTokens { penalize(t) }
            for t in outputTokens where !inPrompt.unsafelyUnwrapped[Int(t)] { penalize(t) }
        }
        if params.frequencyPenalty != 0 || params.presencePenalty != 0, let outputCounts {
            for t in outputTokens {
                processed[Int(t)] -= params.frequencyPenalty * Float(outputCounts[Int(t)])
                processed[Int(t)] -= params.presencePenalty
            }
        }
        return UnsafePointer(processed)
    }

    /// Whether the generated tokens end with `word` minus its last token (always for a one-token word).
    private func endsWithAllButLast(_ word: [Int]) -> Bool {
        let prefix = word.count - 1
        guard prefix <= recentCount else { return false }
        for j in 0..<prefix where Int(recentTokens.unsafelyUnwrapped[(recentNext - prefix + j + recentCapacity) % recentCapacity]) != word[j] {
            return false
        }
        return true
    }

    /// The `params.topLogprobs` largest raw logits' tokens, largest first, lower id first on ties (NaN
    /// never; −inf only when fewer tokens are finite).
    private func topTokens(_ x: UnsafePointer<Float>) -> [Int] {
        guard params.topLogprobs > 0 else { return [] }
        let found = VectorMath.largest(x, count: vocabSize, k: params.topLogprobs, into: top)
        return (0..<found).map { Int(top[$0]) }
    }

    // MARK: Stochastic path

    /// Temperature → min-p → top-k → top-p → draw. `maxLogit` is finite. Also returns Σ exp(x − max) over
    /// the whole vocab when the weights were that before min-p (no top-k, temperature 1), to spare a second pass.
    private func draw(_ x: UnsafePointer<Float>, maxLogit: Float) -> (token: Int, softmaxSum: Double?) {
        let inverseTemperature = 1 / params.temperature
        let useTopP = params.topP < 1
        // min-p and top-k both keep a highest-first prefix: applied in turn, they keep the shorter one.
        let minWeight = params.minP
        var count = 0
        var total = 0.0
        if params.topK > 0 && params.topK < vocabSize {
            // Candidates: the logits ≥ the k-th largest (few: scalar exp is fine).
            let threshold = kthLargest(x, k: params.topK)
            for i in 0..<vocabSize where x[i] >= threshold && x[i] > -Float.infinity {
                let w = expf((x[i] - maxLogit) * inverseTemperature)
                if w < minWeight { continue }
                weights[i] = w
                candidates[count] = Int32(i)
                count += 1
                total += Double(w)
            }
            if !useTopP { return (pick(mass: uniform() * total, from: candidates, count: count), nil) }
        } else {
            // Every token: vectorized weights (0 for masked ones).
            total = Self.expWeights(x, count: vocabSize, shift: maxLogit, scale: inverseTemperature, into: weights)
            let softmaxSum = params.temperature == 1 ? total : nil
            if minWeight > 0 {
                total = 0
                for i in 0..<vocabSize {
                    if weights[i] < minWeight { weights[i] = 0 } else { total += Double(weights[i]) }
                }
            }
            if !useTopP { return (pickInVocabOrder(mass: uniform() * total), softmaxSum) }
            let (sure, sureMass, count) = collectNucleusCandidates(
                x, maxLogit: maxLogit, inverseTemperature: inverseTemperature, target: topPTarget(total))
            return (nucleusDraw(sure: sure, sureMass: sureMass, count: count, total: total), softmaxSum)
        }
        return (nucleusDraw(sure: 0, sureMass: 0, count: count, total: total), nil)
    }

    /// The candidates' mass p must reach (see `topPTolerance`).
    private func topPTarget(_ total: Double) -> Double { (Double(params.topP) - Self.topPTolerance) * total }

    /// Top-p: `candidates[0..<sure]` (mass `sureMass`) are in the nucleus already; `candidates[sure..<count]`
    /// are popped highest first (heap-sort into the tail) until the mass reaches p of `total` (at least one
    /// token in all), then one draw among the kept tokens.
    private func nucleusDraw(sure: Int, sureMass: Double, count: Int, total: Double) -> Int {
        let heap = candidates + sure
        let heapCount = count - sure
        buildMaxHeap(heap, count: heapCount)
        let target = topPTarget(total)
        var heapSize = heapCount
        var kept = sureMass
        while heapSize > 0 && (kept < target || heapSize == heapCount && sure == 0) {
            heapSize -= 1
            heap.samplerSwap(0, heapSize)
            siftDown(heap, 0, heapSize: heapSize)
            kept += Double(weights[Int(heap[heapSize])])
        }
        let popped = heapCount - heapSize
        for i in 0..<popped { heap[i] = heap[heapSize + i] }  // kept tokens → candidates[0..<sure + popped]
        return pick(mass: uniform() * kept, from: candidates, count: sure + popped)
    }

    /// Threshold search so top-p never heap-sorts the whole vocab: histogram the weights by scaled logit
    /// (buckets of 1/8 nat below the max) and find the cutoff bucket where the running mass reaches
    /// `target`. Tokens above it are all in the nucleus (their mass falls short of the target); tokens below
    /// it are all out; only the cutoff bucket needs ordering. Writes the sure tokens to `candidates[0..<sure]`,
    /// the cutoff bucket's after them, and returns (sure, mass of the sure tokens, total written).
    private func collectNucleusCandidates(_ x: UnsafePointer<Float>, maxLogit: Float, inverseTemperature: Float,
                                          target: Double) -> (sure: Int, sureMass: Double, count: Int) {
        let last = Self.nucleusBuckets - 1
        @inline(__always) func bucket(_ v: Float) -> Int {
            Int(min(Float(last), (maxLogit - v) * inverseTemperature * Self.bucketsPerNat))
        }
        bucketMass.update(repeating: 0, count: Self.nucleusBuckets)
        for i in 0..<vocabSize where weights[i] > 0 { bucketMass[bucket(x[i])] += Double(weights[i]) }
        var cutoff = 0
        var mass = bucketMass[0]
        while mass < target && cutoff < last {
            cutoff += 1
            mass += bucketMass[cutoff]
        }
        var sure = 0
        var sureMass = 0.0
        for i in 0..<vocabSize where weights[i] > 0 && bucket(x[i]) < cutoff {
            candidates[sure] = Int32(i)
            sure += 1
            sureMass += Double(weights[i])
        }
        var count = sure
        for i in 0..<vocabSize where weights[i] > 0 && bucket(x[i]) == cutoff {
            candidates[count] = Int32(i)
            count += 1
        }
        return (sure, sureMass, count)
    }

    /// `pick` over the whole vocab in index order (weights of every token are set).
    private func pickInVocabOrder(mass: Double) -> Int {
        var running = 0.0
        var lastPositive = 0
        for i in 0..<vocabSize where weights[i] > 0 {
            running += Double(weights[i])
            lastPositive = i
            if mass < running { return i }
        }
        return lastPositive  // rounding left `mass` at the very end
    }

    /// The first token whose running weight passes `mass`; zero-weight tokens are never chosen.
    private func pick(mass: Double, from tokens: UnsafeMutablePointer<Int32>, count: Int) -> Int {
        var running = 0.0
        var lastPositive = Int(tokens[0])
        for t in UnsafeBufferPointer(start: tokens, count: count) {
            let w = Double(weights[Int(t)])
            guard w > 0 else { continue }
            running += w
            lastPositive = Int(t)
            if mass < running { return Int(t) }
        }
        return lastPositive  // rounding left `mass` at the very end
    }

    /// The k-th largest finite logit (or −greatestFinite when fewer than k are finite), via a size-k min-heap.
    private func kthLargest(_ x: UnsafePointer<Float>, k: Int) -> Float {
        var size = 0
        var i = -1
        while i + 1 < vocabSize {
            i += 1
            // Once the heap is full, skip 4 logits at a time that cannot enter it (most of them).
            if size == k && i & 3 == 0 && i + 4 <= vocabSize {
                let floor = heapValues[0]
                if !(x[i] > floor || x[i + 1] > floor || x[i + 2] > floor || x[i + 3] > floor) {
                    i += 3
                    continue
                }
            }
            let v = x[i]
            guard v > -Float.infinity else { continue }  // skips −inf and NaN
            if size < k {
                var child = size
                heapValues[size] = v
                size += 1
                while child > 0 {  // sift up
                    let parent = (child - 1) / 2
                    if heapValues[parent] <= heapValues[child] { break }
                    heapValues.samplerSwap(parent, child)
                    child = parent
                }
            } else if v > heapValues[0] {
                heapValues[0] = v
                var parent = 0
                while true {  // sift down
                    let left = 2 * parent + 1
                    if left >= k { break }
                    let right = left + 1
                    let smaller = right < k && heapValues[right] < heapValues[left] ? right : left
                    if heapValues[parent] <= heapValues[smaller] { break }
                    heapValues.samplerSwap(parent, smaller)
                    parent = smaller
                }
            }
        }
        return size == k ? heapValues[0] : -Float.greatestFiniteMagnitude
    }

    // MARK: Max-heap of candidate tokens by weight (ties: lower token id first)

    @inline(__always)
    private func ranksAbove(_ a: Int32, _ b: Int32) -> Bool {
        let wa = weights[Int(a)], wb = weights[Int(b)]
        return wa > wb || (wa == wb && a < b)
    }

    private func buildMaxHeap(_ heap: UnsafeMutablePointer<Int32>, count: Int) {
        var node = count / 2 - 1
        while node >= 0 {
            siftDown(heap, node, heapSize: count)
            node -= 1
        }
    }

    private func siftDown(_ heap: UnsafeMutablePointer<Int32>, _ start: Int, heapSize: Int) {
        var parent = start
        while true {
            let left = 2 * parent + 1
            if left >= heapSize { return }
            let right = left + 1
            let top = right < heapSize && ranksAbove(heap[right], heap[left]) ? right : left
            if !ranksAbove(heap[top], heap[parent]) { return }
            heap.samplerSwap(parent, top)
            parent = top
        }
    }

    // MARK: Helpers

    /// Uniform in [0, 1) with 53 random bits.
    @inline(__always)
    private func uniform() -> Double {
        Double(rng.next() >> 11) * 0x1.0p-53
    }

    /// Index and value of the largest logit, lowest index on ties; NaN never wins. (0, −inf) if none is > −inf.
    /// Eight independent running maxima (no dependency chain), then a scan for the first occurrence.
    static func argmax(_ x: UnsafePointer<Float>, count: Int) -> (index: Int, value: Float) {
        var m = (-Float.infinity, -Float.infinity, -Float.infinity, -Float.infinity,
                 -Float.infinity, -Float.infinity, -Float.infinity, -Float.infinity)
        var i = 0
        while i + 8 <= count {  // `a > b ? a : b` skips NaN (it never compares greater)
            m.0 = x[i] > m.0 ? x[i] : m.0; m.1 = x[i + 1] > m.1 ? x[i + 1] : m.1
            m.2 = x[i + 2] > m.2 ? x[i + 2] : m.2; m.3 = x[i + 3] > m.3 ? x[i + 3] : m.3
            m.4 = x[i + 4] > m.4 ? x[i + 4] : m.4; m.5 = x[i + 5] > m.5 ? x[i + 5] : m.5
            m.6 = x[i + 6] > m.6 ? x[i + 6] : m.6; m.7 = x[i + 7] > m.7 ? x[i + 7] : m.7
            i += 8
        }
        var best = max(max(max(m.0, m.1), max(m.2, m.3)), max(max(m.4, m.5), max(m.6, m.7)))
        while i < count {
            if x[i] > best { best = x[i] }
            i += 1
        }
        guard best > -Float.infinity else { return (0, best) }
        var index = 0
        while !(x[index] == best) { index += 1 }
        return (index, best)
    }

    /// Writes out[i] = exp((x[i] − shift) · scale) — 0 for −inf/NaN logits and for exponents below the Float
    /// range — and returns their sum. `shift` ≥ every finite x and `scale` > 0, so every exponent is ≤ 0.
    /// Plain loops that the optimizer vectorizes (and that stay quick in debug builds, unlike SIMD types).
    static func expWeights(_ x: UnsafePointer<Float>, count: Int, shift: Float, scale: Float,
                           into out: UnsafeMutablePointer<Float>) -> Double {
        for i in 0..<count {
            let exponent = (x[i] - shift) * scale  // −inf for x = −inf, NaN for x = NaN
            let valid = exponent >= exponentFloor  // false for both
            out[i] = valid ? fastExp(valid ? exponent : exponentFloor) : 0
        }
        // Sum: Float partials in blocks of 256 (≤ 32 terms ≤ 1 per partial), Double across blocks.
        var total = 0.0
        var i = 0
        while i < count {
            let end = min(count, i + 256)
            var p = (Float(0), Float(0), Float(0), Float(0), Float(0), Float(0), Float(0), Float(0))
            while i + 8 <= end {
                p.0 += out[i]; p.1 += out[i + 1]; p.2 += out[i + 2]; p.3 += out[i + 3]
                p.4 += out[i + 4]; p.5 += out[i + 5]; p.6 += out[i + 6]; p.7 += out[i + 7]
                i += 8
            }
            while i < end { p.0 += out[i]; i += 1 }
            total += Double(((p.0 + p.1) + (p.2 + p.3)) + ((p.4 + p.5) + (p.6 + p.7)))
        }
        return total
    }

    /// Smallest exponent whose exp is a normal Float (2^−126).
    static let exponentFloor: Float = -87.33654

    /// e^x for x in [−87.3, 88] (the caller keeps it there): x = n·ln2 + r, e^r by the Cephes `expf`
    /// polynomial (≈ 1 ulp), 2^n through the exponent bits. No calls, no tables: it vectorizes.
    @inline(__always)
    static func fastExp(_ x: Float) -> Float {
        let magic: Float = 12_582_912  // 1.5 · 2^23: adding it rounds to an integer held in the low mantissa bits
        let biased = x * 1.442_695_04 + magic
        let n = biased - magic
        let r = x - n * 0.693_359_375 - n * -2.121_944_40e-4  // ln2 split in two for precision
        var p: Float = 1.987_569_150_0e-4
        p = p * r + 1.398_199_950_7e-3
        p = p * r + 8.333_451_907_3e-3
        p = p * r + 4.166_579_589_4e-2
        p = p * r + 1.666_666_545_9e-1
        p = p * r + 5.000_000_120_1e-1
        p = p * (r * r) + r + 1
        let n32 = Int32(bitPattern: biased.bitPattern) &- 0x4B40_0000  // the integer n
        return p * Float(bitPattern: UInt32(bitPattern: (n32 &+ 127) &<< 23))
    }
}

private extension UnsafeMutablePointer {
    /// Exchanges elements i and j (heap maintenance on preallocated scratch).
    @inline(__always)
    func samplerSwap(_ i: Int, _ j: Int) {
        let held = self[i]
        self[i] = self[j]
        self[j] = held
    }
}

/// A choice constraint's walk (SamplingParams.choice): the automaton's edges grouped by node, and the
/// node the generated tokens have reached (−1 once a token left it: then nothing is allowed).
private final class ChoiceWalk: TokenMask {
    private let start: [Int]      // [nodes + 1] first edge of each node in `tokens` / `targets`
    private let tokens: [Int], targets: [Int]
    private let accepting: [Bool]
    private let eosTokenIDs: [Int]
    private var node = 0

    init(_ automaton: TokenAutomaton, eosTokenIDs: [Int]) {
        let nodes = automaton.nodeCount
        let order = automaton.from.indices.sorted { automaton.from[$0] < automaton.from[$1] }
        tokens = order.map { automaton.token[$0] }
        targets = order.map { automaton.to[$0] }
        var start = [Int](repeating: 0, count: nodes + 1)
        for f in automaton.from { start[f + 1] += 1 }
        for i in 0..<nodes { start[i + 1] += start[i] }
        self.start = start
        var accepting = [Bool](repeating: false, count: nodes)
        for a in automaton.accepting { accepting[a] = true }
        self.accepting = accepting
        self.eosTokenIDs = eosTokenIDs
    }

    /// The tokens allowed next: the node's edges, and EOS where it accepts.
    func forEachAllowed(_ body: (Int) -> Void) {
        guard node >= 0 else { return }
        for e in start[node]..<start[node + 1] { body(tokens[e]) }
        if accepting[node] { for t in eosTokenIDs { body(t) } }
    }

    func advance(_ token: Int) {
        guard node >= 0 else { return }
        if let e = (start[node]..<start[node + 1]).first(where: { tokens[$0] == token }) {
            node = targets[e]
        } else if !accepting[node] {
            node = -1
        }
    }
}
