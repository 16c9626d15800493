import COpenBLAS
import DeepSeekModel
import Dispatch
import Foundation
import Kernels
import KVCache

/// Shared pieces of the model benchmarks (prefill, decode, PCP): the hardware yardsticks measured
/// in the same run, the FLOP count of the forward the model actually runs, memory and output.
enum ModelBench {
    /// Best-of-`repeats` seconds of `body` (after one untimed warm-up when `warmUp`).
    static func bestTime(repeats: Int, warmUp: Bool = true, _ body: () throws -> Void) rethrows -> Double {
        if warmUp { try body() }
        var best = Double.infinity
        for _ in 0..<max(repeats, 1) {
            let start = monotonicSeconds()
            try body()
            best = min(best, monotonicSeconds() - start)
        }
        return best
    }

    /// The compute yardstick: cblas_sgemm C[n, n] = A[n, n] · B[n, n]ᵀ (the layout of every
    /// projection) at the current BLAS thread count, best-of-`repeats`, in GFLOP/s.
    static func sgemmPeakGFLOPs(size n: Int = 2048, repeats: Int = 5) -> Double {
        let a = Scratch(capacity: n * n), b = Scratch(capacity: n * n), c = Scratch(capacity: n * n)
        for i in 0..<n * n { a.pointer[i] = Float(i % 7) * 0.1; b.pointer[i] = Float(i % 5) * 0.1 }
        let t = bestTime(repeats: repeats) {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(n), Int32(n), Int32(n), 1,
                        a.pointer, Int32(n), b.pointer, Int32(n), 0, c.pointer, Int32(n))
        }
        return 2 * Double(n * n * n) / t / 1e9
    }

    /// The memory yardstick: one summing pass over `regions` (e.g. the model's weights), split
    /// evenly over `threads` threads, best-of-`repeats`, in seconds.
    static func readPassSeconds(regions: [UnsafeBufferPointer<Float>], threads: Int, repeats: Int = 5) -> Double {
        // Cut every region into ~1 MiB slices so the threads get equal shares.
        var slices: [UnsafeBufferPointer<Float>] = []
        let sliceFloats = 1 << 18
        for r in regions {
            var start = 0
            while start < r.count {
                let n = min(sliceFloats, r.count - start)
                slices.append(UnsafeBufferPointer(rebasing: r[start..<start + n]))
                start += n
            }
        }
        let workers = max(threads, 1)
        let sums = UnsafeMutablePointer<Float>.allocate(capacity: workers)
        defer { sums.deallocate() }
        let t = bestTime(repeats: repeats) {
            DispatchQueue.concurrentPerform(iterations: workers) { w in
                var acc = SIMD16<Float>()
                var i = w
                while i < slices.count {
                    let s = slices[i]
                    let base = UnsafeRawPointer(s.baseAddress!)
                    let vectors = s.count / 16
                    for v in 0..<vectors { acc += base.loadUnaligned(fromByteOffset: v * 64, as: SIMD16<Float>.self) }
                    for j in vectors * 16..<s.count { acc[0] += s[j] }
                    i += workers
                }
                sums[w] = acc.sum()
            }
        }
        var total: Float = 0
        for w in 0..<workers { total += sums[w] }
        if total.isNaN { FileHandle.standardError.write(Data("read pass sum is NaN\n".utf8)) }   // keeps the sum alive
        return t
    }

    /// Every weight tensor one decode step streams: all of them except the embedding table, of
    /// which a step reads only its tokens' rows; of kv_b only the W_UV rows (W_UK is read through
    /// its load-time transpose).
    static func decodeStreamedWeights(_ w: ModelWeights) -> [UnsafeBufferPointer<Float>] {
        var out: [UnsafeBufferPointer<Float>] = [w.finalNorm.buffer, w.lmHead.buffer]
        for l in w.layers {
            let a = l.attention
            out += [l.inputNorm.buffer, l.postAttentionNorm.buffer, a.inputProjection.buffer, a.kvANorm.buffer,
                    a.keyAbsorption.buffer, a.o.buffer]
            for h in 0..<a.keyAbsorption.shape[0] { out.append(a.valueAbsorption(head: h)) }
            for t in [a.qANorm, a.qB, a.q] { if let t { out.append(t.buffer) } }
            switch l.feedForward {
            case .dense(let m): out += [m.gateUp.buffer, m.down.buffer]
            case .moe(let m):
                out.append(m.router.buffer)
                if let b = m.correctionBias { out.append(b.buffer) }
                for e in m.experts { out += [e.gateUp.buffer, e.down.buffer] }
                if let s = m.shared { out += [s.gateUp.buffer, s.down.buffer] }
            }
        }
        return out
    }

    /// Peak resident set of this process so far (getrusage ru_maxrss), bytes.
    static func maxResidentBytes() -> Int {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Int(usage.ru_maxrss) * 1024
    }

    /// A deterministic prompt of `count` token ids in [2, vocab).
    static func prompt(count: Int, vocab: Int, seed: UInt64 = 0x5EED) -> [Int32] {
        var state = seed
        return (0..<count).map { _ in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int32(2 + Int((state >> 33) % UInt64(vocab - 2)))
        }
    }

    static func json(_ object: Any) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }

    static func parseList(_ text: String, name: String) throws -> [Int] {
        let values = text.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !values.isEmpty, values.allSatisfy({ ($0 ?? 0) > 0 }) else {
            throw BenchError.badOption("--\(name) expects a comma-separated list of positive integers, found '\(text)'")
        }
        return values.map { $0! }
    }

    static func format(_ v: Double, _ digits: Int = 2) -> String { String(format: "%.\(digits)f", v) }
}

/// FLOPs of the forward DeepSeekTransformer runs on one process's layout (multiply-add = 2),
/// counted from the shapes: projections of every local row (pads included, they are computed),
/// kv_b decompression of the key prefix this process's query blocks see, causal QKᵀ and PV over
/// the visible (query, key) pairs only (masked work in diagonal tiles is not counted), o_proj,
/// MLP/MoE, and lm_head on each request's last row where logits are computed.
enum ForwardFlops {
    static func prefill(_ c: DeepSeekConfig, layout: PrefillLayout, computesLogits: Bool) -> Double {
        let rows = Double(layout.localRows), h = Double(c.hiddenSize), heads = Double(c.numAttentionHeads)
        let nope = Double(c.qkNopeHeadDim), rope = Double(c.qkRopeHeadDim), v = Double(c.vHeadDim)
        let kvl = Double(c.kvLoraRank), rw = Double(c.latentRowWidth), qk = nope + rope
        var decompressedKeys = 0.0, pairs = 0.0
        for (i, r) in layout.requests.enumerated() {
            for b in layout.blocks where b.request == i {
                let q = Double(max(0, min(b.count, r.totalTokens - b.firstPosition)))   // real query rows
                pairs += q * Double(b.firstPosition) + q * (q + 1) / 2
            }
            decompressedKeys += Double(layout.keysToDecompress(request: i))
        }
        var total = 0.0
        for l in 0..<c.numHiddenLayers {
            if let qLora = c.qLoraRank.map(Double.init) {
                total += 2 * rows * h * (qLora + rw) + 2 * rows * qLora * heads * qk   // q_a ‖ kv_a, q_b
            } else {
                total += 2 * rows * h * (rw + heads * qk)
            }
            total += 2 * decompressedKeys * kvl * heads * (nope + v)           // kv_b
            total += 2 * pairs * heads * (qk + v)                              // QKᵀ and PV
            total += 2 * rows * heads * v * h                                  // o_proj
            total += mlp(c, layer: l) * rows
        }
        if computesLogits { total += 2 * h * Double(c.vocabSize) * Double(layout.requests.count) }
        return total
    }

    /// One n-token prompt prefilled on one rank.
    static func prefill(_ c: DeepSeekConfig, tokens n: Int) -> Double {
        prefill(c, layout: .singleRank(newTokens: [[Int32](repeating: 0, count: n)]), computesLogits: true)
    }

    /// FLOPs per row of layer `layer`'s feed-forward block.
    static func mlp(_ c: DeepSeekConfig, layer: Int) -> Double {
        let h = Double(c.hiddenSize)
        guard c.isMoELayer(layer) else { return 6 * h * Double(c.intermediateSize) }
        let inter = Double(c.moeIntermediateSize ?? 0)
        let experts = Double(c.numExpertsPerTok ?? 0) + Double(c.nSharedExperts ?? 0)
        return 2 * h * Double(c.routedExperts) + experts * 6 * h * inter
    }
}

enum BenchError: Error, CustomStringConvertible {
    case badOption(String)
    case subprocessFailed(command: String, status: Int32, output: String)
    case unparsableOutput(String)

    var description: String {
        switch self {
        case .badOption(let s): return s
        case let .subprocessFailed(command, status, output):
            return "subprocess '\(command)' exited with status \(status), expected 0; output: \(output.suffix(2000))"
        case .unparsableOutput(let s): return "could not parse worker output, expected one JSON line: \(s.suffix(500))"
        }
    }
}
