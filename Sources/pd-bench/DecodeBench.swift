import ArgumentParser
import DeepSeekModel
import Foundation
import Kernels
import KVCache

/// `pd-bench decode`: batched decode steps over a context already in the latent cache, against the
/// floor of streaming every weight a step needs once (a read pass over those bytes, same run).
struct DecodeBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "decode",
        abstract: "Decode ms/step and tokens/s per batch size against a same-run weight-streaming floor."
    )

    @Option(help: "Built-in model name or HF folder.") var model = "bench"
    @Option(help: "Tokens already in each sequence's cache when timing starts.") var context = 512
    @Option(help: "Timed decode steps per batch size.") var steps = 64
    @Option(help: "Comma-separated batch sizes.") var batch = "1,4,8"
    @Option(help: "BLAS threads (and read-pass threads).") var threads = 2
    @Flag(help: "Print one JSON object instead of a table.") var json = false

    static let warmUpSteps = 2

    func run() throws {
        let batches = try ModelBench.parseList(batch, name: "batch")
        guard threads >= 1, steps >= 1, context >= 1 else { throw BenchError.badOption("--threads, --steps and --context must be ≥ 1") }
        BLAS.setThreads(threads)
        let transformer = try DeepSeekTransformer(directory: try BuiltinModel.resolve(model))
        let c = transformer.config
        guard context + Self.warmUpSteps + steps <= c.maxPositionEmbeddings else {
            throw BenchError.badOption("--context + steps exceed the model's \(c.maxPositionEmbeddings) positions")
        }
        let streamed = ModelBench.decodeStreamedWeights(transformer.weights)
        let streamedBytes = streamed.reduce(0) { $0 + $1.count } * 4
        // The memory bandwidth of this (shared) host swings between runs, so the floor is measured
        // right before and right after every batch size; a row is compared with the better of its two.
        var floorBefore = ModelBench.readPassSeconds(regions: streamed, threads: threads, repeats: 5)
        var rows: [[String: Any]] = []
        for b in batches {
            let perSequence = context + Self.warmUpSteps + steps
            let cache = try PagedLatentCache(layers: c.numHiddenLayers, rowWidth: c.latentRowWidth, pageSize: 16,
                                             pageCount: b * ((perSequence + 15) / 16))
            let sequences = try (0..<b).map { _ in try cache.allocate(capacity: perSequence) }
            try fillContext(cache, sequences: sequences, rows: context)
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
            let mean = stepSeconds.reduce(0, +) / Double(steps)
            let best = stepSeconds.min()!
            let floorAfter = ModelBench.readPassSeconds(regions: streamed, threads: threads, repeats: 5)
            let floor = min(floorBefore, floorAfter)
            floorBefore = floorAfter
            rows.append(["batch": b, "ms_per_step": mean * 1e3, "best_ms_per_step": best * 1e3,
                         "tokens_per_second": Double(b) / mean, "floor_ms": floor * 1e3,
                         "floor_gb_per_s": Double(streamedBytes) / floor / 1e9, "vs_floor": mean / floor])
        }
        let batchOneMs = rows.first { ($0["batch"] as! Int) == 1 }?["ms_per_step"] as? Double
        if json {
            print(ModelBench.json(["model": model, "threads": threads, "context": context, "steps": steps,
                                   "streamed_weight_bytes": streamedBytes, "results": rows]))
            return
        }
        print("decode  model=\(model) threads=\(threads) context=\(context) steps=\(steps) (mean over steps after \(Self.warmUpSteps) warm-up)")
        print("floor: one \(threads)-thread read pass over the \(ModelBench.format(Double(streamedBytes) / 1e9, 3)) GB of weights a step "
              + "streams, best of 5 right before and 5 right after each batch size")
        print("batch  ms/step  best ms  tokens/s  floor ms  floor GB/s  × floor  × batch-1 step")
        for r in rows {
            let ms = r["ms_per_step"] as! Double
            print(String(format: "%5d  %7.2f  %7.2f  %8.1f  %8.2f  %10.1f  %7.2f  %@", r["batch"] as! Int, ms, r["best_ms_per_step"] as! Double,
                         r["tokens_per_second"] as! Double, r["floor_ms"] as! Double, r["floor_gb_per_s"] as! Double, r["vs_floor"] as! Double,
                         batchOneMs.map { String(format: "%.2f", ms / $0) } ?? "-"))
        }
    }

    /// Writes `rows` deterministic latent rows per layer into every sequence and marks them written
    /// (decode cost does not depend on the values; this skips a long prefill per sequence).
    private func fillContext(_ cache: PagedLatentCache, sequences: [Int], rows: Int) throws {
        let width = cache.rowWidth
        var state: UInt64 = 0xDEC0DE
        var values = [Float](repeating: 0, count: rows * width)
        for i in values.indices {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            values[i] = Float(Int32(truncatingIfNeeded: state >> 33)) / Float(1 << 31)
        }
        try values.withUnsafeBufferPointer { v in
            for s in sequences {
                for l in 0..<cache.layers { try cache.write(sequence: s, layer: l, start: 0, rows: v.baseAddress!, count: rows) }
                try cache.setLength(rows, of: s)
            }
        }
    }
}
