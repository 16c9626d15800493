import Basics
import DeepSeekModel
import Kernels
import KVCache

/// `pd-bench decode`: batched decode steps over a context already in the latent cache, against the
/// floor of streaming every weight a step needs once (a read pass over those bytes, same run).
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

    public static let warmUpSteps = 2

    public init(model: String, weightsDType: WeightsDType = .auto, context: Int, steps: Int, batches: [Int], threads: Int) {
        self.model = model; self.weightsDType = weightsDType; self.context = context; self.steps = steps; self.batches = batches; self.threads = threads
    }

    public func run() throws -> Report {
        guard !batches.isEmpty, batches.allSatisfy({ $0 >= 1 }) else { throw BenchError.badOption("--batch must list sizes ≥ 1") }
        guard threads >= 1, steps >= 1, context >= 1 else { throw BenchError.badOption("--threads, --steps and --context must be ≥ 1") }
        BLAS.setThreads(threads)
        let transformer = try DeepSeekTransformer(directory: try BuiltinModel.resolve(model), weightsDType: weightsDType)
        let c = transformer.config
        guard context + Self.warmUpSteps + steps <= c.maxPositionEmbeddings else {
            throw BenchError.badOption("--context + steps exceed the model's \(c.maxPositionEmbeddings) positions")
        }
        let streamed = WeightReadPass.decodeStreamedWeights(transformer.weights)
        let streamedBytes = streamed.reduce(0) { $0 + $1.count }
        // The memory bandwidth of this (shared) host swings between runs, so the floor is measured
        // right before and right after every batch size; a row is compared with the better of its two.
        var floorBefore = WeightReadPass.seconds(regions: streamed, threads: threads, repeats: 5)
        var rows: [Row] = []
        for b in batches {
            let perSequence = context + Self.warmUpSteps + steps
            let cache = try PagedLatentCache(layers: c.numHiddenLayers, rowWidth: c.latentRowWidth, pageSize: 16,
                                             pageCount: b * ((perSequence + 15) / 16))
            let sequences = try (0..<b).map { _ in try cache.allocate(capacity: perSequence) }
            try SyntheticContext.fill(cache, sequences: sequences, rows: context)
            let tokens = (0..<b).map { Int32(2 + $0) }
            let logits = Scratch(capacity: b * c.vocabSize)
            var stepSeconds = [Double](repeating: 0, count: steps)        // sized before the loop: no allocation inside
            try tokens.withUnsafeBufferPointer { toks in
                try sequences.withUnsafeBufferPointer { seqs in
                    for _ in 0..<Self.warmUpSteps { try transformer.decode(tokens: toks, sequences: seqs, cache: cache, logits: logits.pointer) }
                    for s in 0..<steps {
                        let start = monotonicSeconds()
                        try transformer.decode(tokens: toks, sequences: seqs, cache: cache, logits: logits.pointer)
                        stepSeconds[s] = monotonicSeconds() - start
                    }
                }
            }
            let floorAfter = WeightReadPass.seconds(regions: streamed, threads: threads, repeats: 5)
            rows.append(Row(batch: b, meanSeconds: stepSeconds.reduce(0, +) / Double(steps), bestSeconds: stepSeconds.min()!,
                            floorSeconds: min(floorBefore, floorAfter), streamedBytes: streamedBytes))
            floorBefore = floorAfter
        }
        return Report(benchmark: self, streamedBytes: streamedBytes, rows: rows)
    }

    /// One batch size: step times against the weight-streaming floor.
    public struct Row {
        public let batch: Int, meanSeconds: Double, bestSeconds: Double, floorSeconds: Double, streamedBytes: Int
        public var tokensPerSecond: Double { Double(batch) / meanSeconds }
        public var floorGBPerSecond: Double { Double(streamedBytes) / floorSeconds / 1e9 }
        public var timesFloor: Double { meanSeconds / floorSeconds }
    }

    public struct Report {
        public let benchmark: DecodeBenchmark
        public let streamedBytes: Int
        public let rows: [Row]

        public func json() -> String {
            let b = benchmark
            return BenchOutput.json([
                "model": b.model, "threads": b.threads, "context": b.context, "steps": b.steps, "streamed_weight_bytes": streamedBytes,
                "results": rows.map { r in
                    ["batch": r.batch, "ms_per_step": r.meanSeconds * 1e3, "best_ms_per_step": r.bestSeconds * 1e3,
                     "tokens_per_second": r.tokensPerSecond, "floor_ms": r.floorSeconds * 1e3,
                     "floor_gb_per_s": r.floorGBPerSecond, "vs_floor": r.timesFloor] as [String: Any]
                },
            ])
        }

        public func text() -> String {
            let b = benchmark
            var lines = [
                "decode  model=\(b.model) threads=\(b.threads) context=\(b.context) steps=\(b.steps) (mean over steps after \(DecodeBenchmark.warmUpSteps) warm-up)",
                "floor: one \(b.threads)-thread read pass over the \(BenchOutput.format(Double(streamedBytes) / 1e9, 3)) GB of weights a step "
                    + "streams, best of 5 right before and 5 right after each batch size",
                "batch  ms/step  best ms  tokens/s  floor ms  floor GB/s  × floor  × batch-1 step",
            ]
            let batchOneMs = rows.first { $0.batch == 1 }.map { $0.meanSeconds * 1e3 }
            for r in rows {
                let ms = r.meanSeconds * 1e3
                lines.append(String(format: "%5d  %7.2f  %7.2f  %8.1f  %8.2f  %10.1f  %7.2f  %@", r.batch, ms, r.bestSeconds * 1e3,
                                    r.tokensPerSecond, r.floorSeconds * 1e3, r.floorGBPerSecond, r.timesFloor,
                                    batchOneMs.map { String(format: "%.2f", ms / $0) } ?? "-"))
            }
            return lines.joined(separator: "\n")
        }
    }
}
