import Basics
import Kernels

/// `pd-bench linear`: one linear layer y[rows, out] = x · Wᵀ (BLAS.linear on a WeightMatrix) per
/// stored dtype, against the floor of reading the weight's stored bytes once at the memory
/// bandwidth of a read pass over the same buffers, measured in the same run. Above
/// BLAS.skinnyRowLimit rows it times the prefill path (panel conversion + sgemm): read GFLOP/s there.
public struct LinearBenchmark {
    public var dtypes: [String]
    public var rows: [Int]
    /// (out, in) = the weight's [rows, cols].
    public var shapes: [(out: Int, in: Int)]
    public var threads: Int
    /// Bytes swept per timing (copies of the weight cycled through), past the last-level cache.
    public var sweepBytes: Int
    public var repeats: Int

    public init(dtypes: [String], rows: [Int], shapes: [(out: Int, in: Int)], threads: Int, sweepMiB: Int = 512, repeats: Int = 5) {
        self.dtypes = dtypes; self.rows = rows; self.shapes = shapes; self.threads = threads
        sweepBytes = sweepMiB << 20; self.repeats = repeats
    }

    /// "2048x5632,5632x2048" → [(2048, 5632), (5632, 2048)].
    public static func parseShapes(_ text: String) throws -> [(out: Int, in: Int)] {
        try text.split(separator: ",").map { item in
            let parts = item.lowercased().split(separator: "x").map { Int($0) }
            guard parts.count == 2, let out = parts[0], let inner = parts[1], out > 0, inner > 0 else {
                throw BenchError.badOption("--shape expects OUTxIN pairs such as 2048x5632, found '\(item)'")
            }
            return (out, inner)
        }
    }

    public func run() throws -> Report {
        let kinds = try dtypes.map { name -> StoredWeightCopies.DType in
            guard let d = StoredWeightCopies.DType(rawValue: name) else {
                throw BenchError.badOption("--dtype expects f32, bf16, f16 or fp8, found '\(name)'")
            }
            return d
        }
        guard !rows.isEmpty, rows.allSatisfy({ $0 >= 1 }) else { throw BenchError.badOption("--rows must list sizes ≥ 1") }
        guard threads >= 1, !shapes.isEmpty else { throw BenchError.badOption("--threads must be ≥ 1 and --shape non-empty") }
        BLAS.setThreads(threads)
        var results: [Row] = []
        for shape in shapes {
            let x = Scratch(capacity: rows.max()! * shape.in), y = Scratch(capacity: rows.max()! * shape.out)
            for i in 0..<rows.max()! * shape.in { x.pointer[i] = Float(i % 13) * 0.01 - 0.06 }
            for dtype in kinds {
                let copies = StoredWeightCopies(dtype, rows: shape.out, cols: shape.in, sweepBytes: sweepBytes)
                // The floor's bandwidth, best of a read pass right before and right after the timings.
                let before = WeightReadPass.seconds(regions: copies.regions, threads: threads, repeats: repeats)
                var timed: [(Int, Double)] = []
                for m in rows {
                    let sweep = bestTime(repeats: repeats) {
                        for w in copies.matrices { BLAS.linear(x.pointer, rows: m, weight: w, into: y.pointer) }
                    }
                    timed.append((m, sweep / Double(copies.matrices.count)))
                }
                let after = WeightReadPass.seconds(regions: copies.regions, threads: threads, repeats: repeats)
                let bandwidth = Double(copies.totalBytes) / min(before, after)
                let bytes = copies.matrices[0].streamedBytes
                for (m, seconds) in timed {
                    results.append(Row(out: shape.out, in: shape.in, dtype: dtype.rawValue, rows: m, seconds: seconds,
                                       streamedBytes: bytes, floorSeconds: Double(bytes) / bandwidth))
                }
            }
        }
        return Report(benchmark: self, isa: InstructionSet.active?.rawValue ?? "none", rows: results)
    }

    public struct Row {
        public let out: Int, `in`: Int, dtype: String, rows: Int, seconds: Double, streamedBytes: Int, floorSeconds: Double
        public var gbPerSecond: Double { Double(streamedBytes) / seconds / 1e9 }
        public var floorGBPerSecond: Double { Double(streamedBytes) / floorSeconds / 1e9 }
        public var timesFloor: Double { seconds / floorSeconds }
        public var gflops: Double { 2 * Double(rows) * Double(out) * Double(self.in) / seconds / 1e9 }
    }

    public struct Report {
        public let benchmark: LinearBenchmark
        public let isa: String
        public let rows: [Row]

        public func json() -> String {
            BenchOutput.json([
                "isa": isa, "gemm_backend": GEMMBackend.active.rawValue, "threads": benchmark.threads, "sweep_bytes": benchmark.sweepBytes,
                "results": rows.map { r in
                    ["out": r.out, "in": r.in, "dtype": r.dtype, "rows": r.rows, "ms_per_call": r.seconds * 1e3,
                     "streamed_bytes": r.streamedBytes, "gb_per_s": r.gbPerSecond, "floor_ms": r.floorSeconds * 1e3,
                     "floor_gb_per_s": r.floorGBPerSecond, "vs_floor": r.timesFloor, "gflops": r.gflops] as [String: Any]
                },
            ])
        }

        public func text() -> String {
            var lines = [
                "linear  isa=\(isa) sgemm=\(GEMMBackend.active.name) threads=\(benchmark.threads) (BLAS.linear on a WeightMatrix; copies cycled over \(benchmark.sweepBytes >> 20) MiB, best of \(benchmark.repeats) sweeps)",
                "floor: the weight's stored bytes at the bandwidth of a \(benchmark.threads)-thread read pass over the same copies (best of before/after)",
                "   out ×    in  dtype  rows  ms/call   GB/s  floor ms  floor GB/s  × floor  GFLOP/s",
            ]
            for r in rows {
                lines.append(String(format: "%6d × %5d  %5@  %4d  %7.3f  %5.1f  %8.3f  %10.1f  %7.2f  %7.1f", r.out, r.in, r.dtype, r.rows,
                                    r.seconds * 1e3, r.gbPerSecond, r.floorSeconds * 1e3, r.floorGBPerSecond, r.timesFloor, r.gflops))
            }
            return lines.joined(separator: "\n")
        }
    }
}
