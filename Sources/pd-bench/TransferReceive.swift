import ArgumentParser
import Foundation
import Transport
import Wire

/// The receiving half of the KV transfer benchmark (the decode side): per chunk size, pulls a
/// Prefill stream over gRPC (per --sink: verify XXH3 and headers, optionally write rows into a
/// KV buffer) and the same bytes over raw TCP, in interleaved rounds; prints medians per size,
/// and with --json one summary object.
struct TransferReceive: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "transfer-receive",
        abstract: "KV transfer benchmark receiver: gRPC vs raw TCP on loopback, interleaved rounds, medians.")

    @Option(help: "gRPC port of transfer-send.") var grpcPort: Int
    @Option(help: "Raw TCP port of transfer-send.") var tcpPort: Int
    @Option(help: "Bytes per transfer, in MiB.") var mib = 2048
    @Option(parsing: .upToNextOption, help: "Chunk sizes in KiB.") var chunkKib: [Int] = [256, 1024, 4096, 16384]
    @Option(help: "Interleaved rounds (each runs every size over gRPC and TCP).") var rounds = 3
    @Option(help: "Tokens per synthetic layer (576 floats each), 1...16384: 16384 (36 MiB) streams the source from DRAM; 4096 (9 MiB) stays in L3, as a layer shipped right after it was computed may.")
    var layerTokens = TransferBench.tokensPerLayer
    @Option(help: "Wire dtype: f32 or bf16.") var dtype = "f32"
    @Option(help: "What the receiver does per chunk: verify (XXH3 + header checks), copy (verify, then write rows into a KV buffer, as decode does) or none (parse only).")
    var sink = "verify"
    @Option(help: "Untimed gRPC transfer before the rounds, in MiB (the connection's flow-control windows and the heap reach their steady state, as on a long-lived prefill→decode channel).")
    var warmupMib = 256
    @Flag(help: "Print one JSON object instead of the table.") var json = false

    struct Row: Codable {
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

    struct Summary: Codable {
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

    func run() throws {
        guard let wireDType = ["f32": WireDType.f32, "bf16": .bf16][dtype] else {
            throw ValidationError("--dtype must be f32 or bf16, found \(dtype)")
        }
        guard ["verify", "copy", "none"].contains(sink) else {
            throw ValidationError("--sink must be verify, copy or none, found \(sink)")
        }
        guard (1...TransferBench.tokensPerLayer).contains(layerTokens) else {
            throw ValidationError("--layer-tokens must be in 1...\(TransferBench.tokensPerLayer), found \(layerTokens)")
        }
        let layers = TransferBench.layers(forTotal: mib << 20, layerTokens: layerTokens)
        let payloadBytes = layers * layerTokens * TransferBench.rowWidth * wireDType.byteWidth
        let channel = TransportChannel(target: "127.0.0.1:\(grpcPort)", maxMessageBytes: 64 << 20)
        _ = try channel.checkHealth(deadline: .after(seconds: 10))
        // The decode side's KV destination: one layer [tokens, rowWidth] f32, rewritten per layer.
        var cache = [Float](repeating: 0, count: layerTokens * TransferBench.rowWidth)
        let warmupLayers = warmupMib > 0 ? TransferBench.layers(forTotal: warmupMib << 20, layerTokens: layerTokens) : 0
        let warmupBytes = warmupLayers * layerTokens * TransferBench.rowWidth * wireDType.byteWidth
        if warmupLayers > 0, let first = chunkKib.first {
            _ = try cache.withUnsafeMutableBufferPointer {
                try receiveGRPC(channel, chunkBytes: first << 10, layers: warmupLayers, dtype: wireDType, cache: $0)
            }
        }
        var runs = [[Path: PathRuns]](repeating: [:], count: chunkKib.count)
        let gigabytes = Double(payloadBytes) / 1e9
        for round in 0..<rounds {
            for (i, kib) in chunkKib.enumerated() {
                // Rotate the order, so no path always runs first or last.
                let shift = (round + i) % Path.allCases.count
                for path in Path.allCases[shift...] + Path.allCases[..<shift] {
                    let cpuStart = TransferBench.processCPUSeconds()
                    let run = try path == .grpc
                        ? cache.withUnsafeMutableBufferPointer {
                            try receiveGRPC(channel, chunkBytes: kib << 10, layers: layers, dtype: wireDType, cache: $0)
                        }
                        : receiveTCP(totalBytes: payloadBytes, pieceBytes: kib << 10, checksummed: path == .tcpXXH3)
                    let receiverCPU = (TransferBench.processCPUSeconds() - cpuStart) / gigabytes
                    let senderCPU = run.senderCPUSeconds / gigabytes
                    let gbps = gigabytes / run.seconds
                    runs[i][path, default: PathRuns()].add(gbps: gbps, receiverCPU: receiverCPU, senderCPU: senderCPU)
                    if !json {
                        print(String(format: "round %d  %6d KiB  %@  %.2f GB/s  CPU: receiver %.3f s/GB, sender %.3f s/GB", round + 1, kib,
                                     path.label, gbps, receiverCPU, senderCPU))
                    }
                }
            }
        }
        // Ratios pair each gRPC run with the TCP runs right beside it in the same round, so the
        // host's drift between rounds (TCP alone spreads ±15 % here) cancels out of them.
        let rows = chunkKib.indices.map { i -> Row in
            let g = runs[i][.grpc]!, t = runs[i][.tcp]!, c = runs[i][.tcpXXH3]!
            func pairedRatio(_ other: PathRuns) -> Double { median(zip(g.gbps, other.gbps).map { $1 > 0 ? $0 / $1 : 0 }) }
            return Row(chunk_bytes: chunkKib[i] << 10, grpc_gbps: median(g.gbps),
                       tcp_gbps: median(t.gbps), ratio: pairedRatio(t),
                       grpc_runs: g.gbps, tcp_runs: t.gbps,
                       tcp_xxh3_gbps: median(c.gbps), tcp_xxh3_runs: c.gbps, ratio_vs_tcp_xxh3: pairedRatio(c),
                       grpc_receiver_cpu_s_per_gb: median(g.receiverCPU),
                       grpc_sender_cpu_s_per_gb: median(g.senderCPU),
                       tcp_receiver_cpu_s_per_gb: median(t.receiverCPU),
                       tcp_sender_cpu_s_per_gb: median(t.senderCPU),
                       tcp_xxh3_receiver_cpu_s_per_gb: median(c.receiverCPU),
                       tcp_xxh3_sender_cpu_s_per_gb: median(c.senderCPU))
        }
        let best = rows.max { $0.grpc_gbps < $1.grpc_gbps }!
        let tcpBest = rows.map(\.tcp_gbps).max()!
        let summary = Summary(grpc_gbps: best.grpc_gbps, tcp_gbps: best.tcp_gbps, ratio: best.ratio,
                              tcp_best_gbps: tcpBest, ratio_vs_best_tcp: tcpBest > 0 ? best.grpc_gbps / tcpBest : 0,
                              tcp_xxh3_gbps: best.tcp_xxh3_gbps, ratio_vs_tcp_xxh3: best.ratio_vs_tcp_xxh3,
                              best_chunk_bytes: best.chunk_bytes, bytes_per_transfer: payloadBytes, layer_tokens: layerTokens, rounds: rounds,
                              warmup_bytes: warmupBytes,
                              dtype: dtype, checksum: Self.sinkDescriptions[sink]!, xxh3_gbps: Self.xxh3Speed(), rows: rows)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            print(String(decoding: try encoder.encode(summary), as: UTF8.self))
        } else {
            print("\nKV transfer, \(payloadBytes >> 20) MiB per transfer in layers of [\(layerTokens), \(TransferBench.rowWidth)], \(dtype), medians of \(rounds) interleaved rounds")
            print("(ratio: median of gRPC/TCP within each round; TCP+XXH3: raw TCP hashing every piece on both sides, and gRPC's paired ratio to it; CPU: receiver + sender s/GB)")
            print("chunk KiB   gRPC GB/s   TCP GB/s   ratio   TCP+XXH3 GB/s   ratio   gRPC CPU      TCP CPU       TCP+XXH3 CPU")
            for row in rows {
                print(String(format: "%9d   %9.2f   %8.2f   %5.2f   %13.2f   %5.2f   %.3f+%.3f   %.3f+%.3f   %.3f+%.3f", row.chunk_bytes >> 10,
                             row.grpc_gbps, row.tcp_gbps, row.ratio, row.tcp_xxh3_gbps, row.ratio_vs_tcp_xxh3,
                             row.grpc_receiver_cpu_s_per_gb, row.grpc_sender_cpu_s_per_gb,
                             row.tcp_receiver_cpu_s_per_gb, row.tcp_sender_cpu_s_per_gb,
                             row.tcp_xxh3_receiver_cpu_s_per_gb, row.tcp_xxh3_sender_cpu_s_per_gb))
            }
            print(String(format: "best: %d KiB chunks, gRPC %.2f GB/s = %.2f x raw TCP (%.2f x TCP's best size, %.2f GB/s), %.2f x TCP+XXH3; XXH3 alone %.1f GB/s",
                         best.chunk_bytes >> 10, best.grpc_gbps, best.ratio, summary.ratio_vs_best_tcp, tcpBest,
                         best.ratio_vs_tcp_xxh3, summary.xxh3_gbps))
        }
    }

    static let sinkDescriptions = [
        "verify": "xxh3-64 and headers verified per chunk",
        "copy": "xxh3-64 and headers verified per chunk, then rows written into a KV buffer",
        "none": "not verified (--sink none)",
    ]

    /// What carries the bytes: gRPC (checksummed, verified), raw TCP, raw TCP with the same XXH3
    /// work on both sides.
    enum Path: CaseIterable {
        case grpc, tcp, tcpXXH3

        var label: String {
            switch self {
            case .grpc: "grpc    "
            case .tcp: "tcp     "
            case .tcpXXH3: "tcp+xxh3"
            }
        }
    }

    /// Every run of one path at one chunk size: GB/s and CPU s/GB of each side.
    struct PathRuns {
        var gbps: [Double] = [], receiverCPU: [Double] = [], senderCPU: [Double] = []

        mutating func add(gbps: Double, receiverCPU: Double, senderCPU: Double) {
            self.gbps.append(gbps)
            self.receiverCPU.append(receiverCPU)
            self.senderCPU.append(senderCPU)
        }
    }

    /// One transfer: wall seconds and the CPU seconds the sending process reported for it.
    struct Run {
        var seconds: Double
        var senderCPUSeconds: Double
    }

    /// One Prefill stream received and handled per `sink`.
    func receiveGRPC(_ channel: TransportChannel, chunkBytes: Int, layers: Int, dtype: WireDType,
                     cache: UnsafeMutableBufferPointer<Float>) throws -> Run {
        let requestId = "bench-\(chunkBytes)-\(UInt32.random(in: 0...UInt32.max))"
        let request = PrefillRequest(requestId: requestId,
                                     promptTokenIds: [UInt32](repeating: 1, count: layerTokens),
                                     modelFingerprint: TransferBench.fingerprint, dtype: dtype,
                                     maxChunkBytes: UInt32(chunkBytes), pageSize: 0)
        let expectation = KVExpectation(requestId: requestId, modelFingerprint: TransferBench.fingerprint, dtype: dtype,
                                        pageSize: 0, rowWidth: TransferBench.rowWidth, layers: layers,
                                        tokens: layerTokens)
        let assembler = KVAssembler(expecting: expectation) { _, start, count in
            let offset = start * TransferBench.rowWidth
            return UnsafeMutableBufferPointer(rebasing: cache[offset..<(offset + count * TransferBench.rowWidth)])
        }
        let start = TransferBench.now()
        let stream = try channel.serverStreaming(method: MethodPath.prefill, request: request,
                                                 metadata: [TransferBench.layersMetadataKey: "\(layers)"],
                                                 deadline: .after(seconds: 600))
        let verifier = KVChunkVerifier(expecting: expectation)
        var finished = false
        while let message = try stream.nextMessage() {
            switch try PrefillResponseView.parse(segments: message.segments) {
            case let .chunk(view):
                switch sink {
                case "verify": try verifier.accept(view)
                case "copy": try assembler.accept(view)
                default: break
                }
            case let .done(done):
                switch sink {
                case "verify": try verifier.finish(done)
                case "copy": try assembler.finish(done)
                default: break
                }
                finished = true
            }
        }
        guard finished else { throw TransportError.status(.dataLoss, "Prefill stream ended without PrefillDone") }
        let seconds = TransferBench.now() - start
        return Run(seconds: seconds, senderCPUSeconds: Double(stream.trailingMetadata[TransferBench.senderCPUMetadataKey] ?? "") ?? 0)
    }

    /// The same bytes over one raw TCP connection, read in the pieces the sender writes (the
    /// chunk size, cut at the end of each layer); with `checksummed`, each piece is followed by its
    /// XXH3-64, recomputed and compared here. The sender's CPU seconds follow the payload (8 bytes,
    /// read after the clock stopped).
    func receiveTCP(totalBytes: Int, pieceBytes: Int, checksummed: Bool) throws -> Run {
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: pieceBytes, alignment: 64)
        defer { buffer.deallocate() }
        let layerBytes = layerTokens * TransferBench.rowBytes
        let start = TransferBench.now()
        let fd = try TCPSocket.connect(port: tcpPort)
        defer { close(fd) }
        let request: [UInt64] = [UInt64(totalBytes).littleEndian, UInt64(pieceBytes).littleEndian,
                                 UInt64(layerBytes).littleEndian, UInt64(checksummed ? 1 : 0).littleEndian]
        try request.withUnsafeBytes { try TCPSocket.writeAll(fd, $0) }
        var received = 0
        var expected: UInt64 = 0
        while received < totalBytes {
            let count = TransferBench.tcpPieceBytes(at: received, total: totalBytes, pieceBytes: pieceBytes, layerBytes: layerBytes)
            try TCPSocket.readExactly(fd, buffer, count)
            if checksummed {
                try withUnsafeMutableBytes(of: &expected) { try TCPSocket.readExactly(fd, $0.baseAddress!, 8) }
                guard XXH3.hash64(UnsafeRawBufferPointer(start: buffer, count: count)) == UInt64(littleEndian: expected) else {
                    throw TCPBenchError.checksumMismatch(offset: received)
                }
            }
            received += count
        }
        let seconds = TransferBench.now() - start
        var senderCPU: UInt64 = 0
        try withUnsafeMutableBytes(of: &senderCPU) { try TCPSocket.readExactly(fd, $0.baseAddress!, 8) }
        return Run(seconds: seconds, senderCPUSeconds: Double(bitPattern: UInt64(littleEndian: senderCPU)))
    }

    /// XXH3 alone over 64 MiB in cache-cold pieces (GB/s), for the record.
    static func xxh3Speed() -> Double {
        let bytes = [UInt8](repeating: 0x5A, count: 64 << 20)
        return bytes.withUnsafeBytes { all in
            let start = TransferBench.now()
            var sink: UInt64 = 0
            for _ in 0..<4 { sink ^= XXH3.hash64(all) }
            let seconds = TransferBench.now() - start
            return sink == 1 ? 0 : Double(4 * all.count) / seconds / 1e9
        }
    }
}
