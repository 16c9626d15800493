import Foundation

/// What `pd-bench transfer-receive` reports (the JSON field names scripts/transfer-throughput,
/// Tests/Integration/transport-throughput.sh and BENCHMARKS.md read).
extension TransferReceiver {
    public struct Row: Codable {
        var chunk_bytes: Int
        var grpc_gbps: Double
        var tcp_gbps: Double
        var ratio: Double
        var grpc_runs: [Double]
        var tcp_runs: [Double]
        /// Raw TCP with the same checksum work (XXH3-64 per piece on both sides): what a
        /// checksummed transport over one TCP socket reaches on this host.
        var tcp_xxh3_gbps: Double
        var tcp_xxh3_runs: [Double]
        /// Median over rounds of gRPC / checksummed TCP, paired within each round.
        var ratio_vs_tcp_xxh3: Double
        /// CPU seconds per GB moved (medians): the box has 2 cores, so CPU per byte is what bounds GB/s.
        var grpc_receiver_cpu_s_per_gb: Double
        var grpc_sender_cpu_s_per_gb: Double
        var tcp_receiver_cpu_s_per_gb: Double
        var tcp_sender_cpu_s_per_gb: Double
        var tcp_xxh3_receiver_cpu_s_per_gb: Double
        var tcp_xxh3_sender_cpu_s_per_gb: Double
    }

    public struct Summary: Codable {
        var grpc_gbps: Double
        var tcp_gbps: Double
        var ratio: Double
        /// gRPC at its best chunk size against raw TCP at *its* best piece size (TCP slows with
        /// 16 MiB reads, which flatters that row's paired ratio).
        var tcp_best_gbps: Double
        var ratio_vs_best_tcp: Double
        /// The best row's checksummed-TCP figures (see Row).
        var tcp_xxh3_gbps: Double
        var ratio_vs_tcp_xxh3: Double
        var best_chunk_bytes: Int
        var bytes_per_transfer: Int
        var layer_tokens: Int
        var rounds: Int
        var warmup_bytes: Int
        var dtype: String
        var checksum: String
        var xxh3_gbps: Double
        var rows: [Row]
    }
}

extension TransferReceiver.Summary {
    /// One line, keys sorted.
    public func json() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }

    /// The table of medians per chunk size and the best row.
    public func text() -> String {
        var lines = ["\nKV transfer, \(bytes_per_transfer >> 20) MiB per transfer in layers of [\(layer_tokens), \(TransferBench.rowWidth)], \(dtype), medians of \(rounds) interleaved rounds",
                     "(ratio: median of gRPC/TCP within each round; TCP+XXH3: raw TCP hashing every piece on both sides, and gRPC's paired ratio to it; CPU: receiver + sender s/GB)",
                     "chunk KiB   gRPC GB/s   TCP GB/s   ratio   TCP+XXH3 GB/s   ratio   gRPC CPU      TCP CPU       TCP+XXH3 CPU"]
        for row in rows {
            lines.append(String(format: "%9d   %9.2f   %8.2f   %5.2f   %13.2f   %5.2f   %.3f+%.3f   %.3f+%.3f   %.3f+%.3f", row.chunk_bytes >> 10,
                                row.grpc_gbps, row.tcp_gbps, row.ratio, row.tcp_xxh3_gbps, row.ratio_vs_tcp_xxh3,
                                row.grpc_receiver_cpu_s_per_gb, row.grpc_sender_cpu_s_per_gb,
                                row.tcp_receiver_cpu_s_per_gb, row.tcp_sender_cpu_s_per_gb,
                                row.tcp_xxh3_receiver_cpu_s_per_gb, row.tcp_xxh3_sender_cpu_s_per_gb))
        }
        lines.append(String(format: "best: %d KiB chunks, gRPC %.2f GB/s = %.2f x raw TCP (%.2f x TCP's best size, %.2f GB/s), %.2f x TCP+XXH3; XXH3 alone %.1f GB/s",
                            best_chunk_bytes >> 10, grpc_gbps, ratio, ratio_vs_best_tcp, tcp_best_gbps, ratio_vs_tcp_xxh3, xxh3_gbps))
        return lines.joined(separator: "\n")
    }
}
