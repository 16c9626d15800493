import Basics
import DeepSeekModel
import Kernels
import KVCache
import Tensors

/// `pd-bench decode`: batched decode steps over a context already in the latent cache, against the
/// floor of streaming once the bytes each step needs (DecodeStepBytes: weights in their held dtype,
/// of MoE only the selected experts, and the cache rows attended) at the memory bandwidth of a read
/// pass over the decode weights measured in the same run. With several residencies, one model is
/// loaded per residency and each batch size times them interleaved (order alternating by batch
/// size), each against a read pass over its own weight memory. This host's memory bandwidth also
/// flips between two states (≈ 35 and ≈ 50–58 GB/s on Zen 4) within one process, so with
/// `passEvery` > 0 the steps also go in chunks with a best-of-3 read pass before each chunk and after
/// the last: each chunk is compared with the better of its two adjacent passes (the floor in the state
/// the chunk ran in), and a row reports the chunks' ratios.
public struct DecodeBenchmark {
    public var model: String
    /// Tokens already in each sequence's cache when timing starts.
    public var context: Int
    /// Timed decode steps per batch size.
    public var steps: Int
    public var batches: [Int]
    /// BLAS threads (and read-pass threads).
    public var threads: Int

    public var weightsDType: WeightsDType
    /// Where the weights live (`--weights-memory`); more than one: compared in the same run.
    public var residencies: [WeightResidency]
    /// Latent cache dtypes, interleaved within each batch size (one row per batch and dtype).
    public var kvDTypes: [LatentDType]
    /// Steps per chunk between adjacent read passes (0: none).
    public var passEvery: Int

    public static let warmUpSteps = 2
    /// Read passes each adjacent floor takes the best of: one pass between chunks measured 5–15 %
    /// below the best of the five around each batch size in the same memory state (session 27).
    public static let adjacentPassRepeats = 3

    public init(model: String, weightsDType: WeightsDType = .auto, residencies: [WeightResidency] = [.mmap], context: Int, steps: Int, batches: [Int],
                threads: Int, kvDTypes: [LatentDType] = [.f32], passEvery: Int = 0) {
        self.model = model; self.weightsDType = weightsDType; self.residencies = residencies
        self.context = context; self.steps = steps; self.batches = batches; self.threads = threads
        self.kvDTypes = kvDTypes; self.passEvery = passEvery
    }

    public func run() throws -> Report {
        guard !batches.isEmpty, batches.allSatisfy({ $0 >= 1 }) else { throw BenchError.badOption("--batch must list sizes ≥ 1") }
        guard threads >= 1, steps >= 1, context >= 1 else { throw BenchError.badOption("--threads, --steps and --context must be ≥ 1") }
        guard passEvery >= 0 else { throw BenchError.badOption("--pass-every must be ≥ 0") }
        guard !kvDTypes.isEmpty else { throw BenchError.badOption("--kv-dtype must list f32 and/or bf16") }
        guard !residencies.isEmpty else { throw BenchError.badOption("no weight residency to time") }
        BLAS.setThreads(threads)
        let folder = try BuiltinModel.resolve(model)
        let models = try residencies.map { try DeepSeekTransformer(directory: folder, weightsDType: weightsDType, residency: $0) }
        let c = models[0].config
        guard context + Self.warmUpSteps + steps <= c.maxPositionEmbeddings else {
            throw BenchError.badOption("--context + steps exceed the model's \(c.maxPositionEmbeddings) positions")
        }
        let held = models.map { WeightReadPass.decodeStreamedWeights($0.weights) }
        let heldBytes = held[0].reduce(0) { $0 + $1.count }
        // The memory bandwidth of this (shared) host swings between runs, so it is measured right
        // before and right after every batch size; a row is compared with the better of the two.
        var passBefore = held.map { WeightReadPass.seconds(regions: $0, threads: threads, repeats: 5) }
        var rows: [Row] = []
        for (index, b) in batches.enumerated() {
            var batchRows: [Row] = []
            let order = index % 2 == 0 ? Array(models.indices) : models.indices.reversed()
            for m in order {
                for dtype in kvDTypes {
                    batchRows.append(try timeSteps(models[m], residency: residencies[m], batch: b, kvDType: dtype, held: held[m]))
                }
            }
            let passAfter = held.map { WeightReadPass.seconds(regions: $0, threads: threads, repeats: 5) }
            for m in models.indices {
                let best = min(passBefore[m], passAfter[m])
                rows += batchRows.filter { $0.residency == residencies[m] }.map { var r = $0; r.passSeconds = best; return r }
            }
            passBefore = passAfter
        }
        return Report(benchmark: self, heldBytes: heldBytes, rows: rows)
    }

    /// `steps` timed decode steps of `batch` sequences after `context` cached rows (read pass: 0, set by
    /// the caller), in chunks between read passes over `held` when `passEvery` > 0.
    private func timeSteps(_ transformer: DeepSeekTransformer, residency: WeightResidency, batch b: Int, kvDType dtype: LatentDType,
                           held: [UnsafeRawBufferPointer]) throws -> Row {
        let heldBytes = held.reduce(0) { $0 + $1.count }
        let c = transformer.config
        let perSequence = context + Self.warmUpSteps + steps
        let cache = try PagedLatentCache(layers: c.numHiddenLayers, rowWidth: c.latentRowWidth, pageSize: 16,
                                         pageCount: b * ((perSequence + 15) / 16), dtype: dtype)
        let sequences = try (0..<b).map { _ in try cache.allocate(capacity: perSequence) }
        try SyntheticContext.fill(cache, sequences: sequences, rows: context)
        let tokens = (0..<b).map { Int32(2 + $0) }
        let logits = Scratch(capacity: b * c.vocabSize)
        // Sized before the loop: no allocation inside the timed part.
        var stepSeconds = [Double](repeating: 0, count: steps)
        var stepBytes = [DecodeStepBytes](repeating: DecodeStepBytes(weights: 0, kvCache: 0), count: steps)
        var attended = [Int](repeating: 0, count: b)
        var passes: [Double] = []   // passes[c] right before chunk c, the last after the last chunk
        passes.reserveCapacity(passEvery > 0 ? steps / passEvery + 2 : 0)
        let adjacentPass = { WeightReadPass.seconds(regions: held, threads: threads, repeats: Self.adjacentPassRepeats) }
        try tokens.withUnsafeBufferPointer { toks in
            try sequences.withUnsafeBufferPointer { seqs in
                for _ in 0..<Self.warmUpSteps { try transformer.decode(tokens: toks, sequences: seqs, cache: cache, logits: logits.pointer) }
                for s in 0..<steps {
                    if passEvery > 0 && s % passEvery == 0 { passes.append(adjacentPass()) }
                    let start = monotonicSeconds()
                    try transformer.decode(tokens: toks, sequences: seqs, cache: cache, logits: logits.pointer)
                    stepSeconds[s] = monotonicSeconds() - start
                    for i in 0..<b { attended[i] = try cache.length(of: seqs[i]) }
                    stepBytes[s] = DecodeStepBytes.lastStep(of: transformer, attended: attended, cache: cache)
                }
                if passEvery > 0 { passes.append(adjacentPass()) }
            }
        }
        let chunks = passes.indices.dropLast().map { c in
            let range = c * passEvery..<min(steps, (c + 1) * passEvery)
            return Chunk(steps: range.count, seconds: range.reduce(0.0) { $0 + stepSeconds[$1] },
                         bytes: range.reduce(0.0) { $0 + Double(stepBytes[$1].weights + stepBytes[$1].kvCache) },
                         bytesPerSecond: Double(heldBytes) / min(passes[c], passes[c + 1]))
        }
        return Row(batch: b, residency: residency, kvDType: dtype, meanSeconds: stepSeconds.reduce(0, +) / Double(steps), bestSeconds: stepSeconds.min()!,
                   meanWeightBytes: Double(stepBytes.reduce(0) { $0 + $1.weights }) / Double(steps),
                   meanKVBytes: Double(stepBytes.reduce(0) { $0 + $1.kvCache }) / Double(steps),
                   passSeconds: 0, passBytes: heldBytes, chunks: chunks)
    }

    /// Steps between two adjacent read passes: their time, the bytes they streamed and the better
    /// bandwidth of the two passes.
    public struct Chunk {
        public let steps: Int, seconds: Double, bytes: Double, bytesPerSecond: Double
        public var gbPerSecond: Double { bytesPerSecond / 1e9 }
        public var timesFloor: Double { seconds / (bytes / bytesPerSecond) }
    }

    /// One batch size and cache dtype: step times against the floor of the bytes its steps stream.
    public struct Row {
        public let batch: Int, residency: WeightResidency, kvDType: LatentDType, meanSeconds: Double, bestSeconds: Double
        /// Mean bytes a step streamed: weights (selected experts only) and latent cache rows.
        public let meanWeightBytes: Double, meanKVBytes: Double
        /// The read pass over this residency's weights (better of before / after the batch size) and the bytes it read.
        public var passSeconds: Double
        public let passBytes: Int
        public var tokensPerSecond: Double { Double(batch) / meanSeconds }
        /// Memory bandwidth of the read pass.
        public var bytesPerSecond: Double { Double(passBytes) / passSeconds }
        public var floorSeconds: Double { (meanWeightBytes + meanKVBytes) / bytesPerSecond }
        public var floorGBPerSecond: Double { bytesPerSecond / 1e9 }
        public var timesFloor: Double { meanSeconds / floorSeconds }
        /// Chunks against their adjacent read passes (empty unless `passEvery` > 0).
        public let chunks: [Chunk]
        /// The median chunk's time over its adjacent floor.
        public var timesAdjacentFloor: Double { median(chunks.map(\.timesFloor)) }
    }

    public struct Report {
        public let benchmark: DecodeBenchmark
        /// Bytes of the weights decode holds (all experts): what the read pass reads.
        public let heldBytes: Int
        public let rows: [Row]

        public func json() -> String {
            let b = benchmark
            return BenchOutput.json([
                "model": b.model, "threads": b.threads, "context": b.context, "steps": b.steps, "streamed_weight_bytes": heldBytes,
                "results": rows.map { r in
                    var row: [String: Any] = ["batch": r.batch, "weights_memory": r.residency.rawValue, "kv_dtype": r.kvDType.rawValue, "ms_per_step": r.meanSeconds * 1e3, "best_ms_per_step": r.bestSeconds * 1e3,
                     "tokens_per_second": r.tokensPerSecond, "floor_ms": r.floorSeconds * 1e3,
                     "floor_gb_per_s": r.floorGBPerSecond, "vs_floor": r.timesFloor,
                     "weight_bytes_per_step": r.meanWeightBytes, "kv_bytes_per_step": r.meanKVBytes]
                    if !r.chunks.isEmpty {
                        row["vs_adjacent_floor"] = r.timesAdjacentFloor
                        row["chunks"] = r.chunks.map { ["steps": $0.steps, "floor_gb_per_s": $0.gbPerSecond, "vs_floor": $0.timesFloor] }
                    }
                    return row
                },
            ])
        }

        public func text() -> String {
            let b = benchmark
            var lines = [
                "decode  model=\(b.model) threads=\(b.threads) context=\(b.context) steps=\(b.steps) (mean over steps after \(DecodeBenchmark.warmUpSteps) warm-up)",
                "floor: the bytes a step streams (weights as held, of MoE only the selected experts; the latent cache rows attended) at the rate "
                    + "of one \(b.threads)-thread read pass over the \(BenchOutput.format(Double(heldBytes) / 1e9, 3)) GB of decode weights, "
                    + "best of 5 right before and 5 right after each batch size (over each weight memory's own copy)",
                "batch  memory      kv    ms/step  best ms  tokens/s  weight MB  KV MB  floor ms  GB/s  × floor  × batch-1 step",
            ]
            if b.passEvery > 0 {
                lines.insert("adjacent floors: the steps in chunks of \(b.passEvery) between read passes (best of \(DecodeBenchmark.adjacentPassRepeats)); each chunk's time "
                             + "over its floor at the better of its two passes (× adjacent floor @ GB/s, in order)", at: 2)
            }
            for r in rows {
                let ms = r.meanSeconds * 1e3
                let batchOneMs = rows.first { $0.batch == 1 && $0.kvDType == r.kvDType && $0.residency == r.residency }.map { $0.meanSeconds * 1e3 }
                lines.append(String(format: "%5d  %@  %@  %7.2f  %7.2f  %8.1f  %9.1f  %5.1f  %8.2f  %4.1f  %7.2f  %@", r.batch,
                                    r.residency.rawValue.padding(toLength: 10, withPad: " ", startingAt: 0),
                                    r.kvDType.rawValue.padding(toLength: 4, withPad: " ", startingAt: 0),
                                    ms, r.bestSeconds * 1e3, r.tokensPerSecond, r.meanWeightBytes / 1e6, r.meanKVBytes / 1e6,
                                    r.floorSeconds * 1e3, r.floorGBPerSecond, r.timesFloor,
                                    batchOneMs.map { String(format: "%.2f", ms / $0) } ?? "-"))
                if !r.chunks.isEmpty {
                    lines.append("       × adjacent floor: median \(BenchOutput.format(r.timesAdjacentFloor)); chunks "
                                 + r.chunks.map { "\(BenchOutput.format($0.timesFloor)) @ \(BenchOutput.format($0.gbPerSecond, 1))" }.joined(separator: ", "))
                }
            }
            return lines.joined(separator: "\n")
        }
    }
}
