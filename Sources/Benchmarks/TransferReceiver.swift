import Basics
import Foundation
import Transport
import Wire

/// The receiving half of the KV transfer benchmark (the decode side): per chunk size, pulls a
/// Prefill stream over gRPC (per --sink: verify XXH3 and headers, optionally write rows into a
/// KV buffer) and the same bytes over raw TCP, in interleaved rounds; reports medians per size
/// (TransferReport).
public struct TransferReceiver {
    /// Ports of transfer-send (TransferSender) on 127.0.0.1.
    public var grpcPort: Int, tcpPort: Int
    /// Bytes per transfer, in MiB.
    public var mib = 2048
    /// Chunk sizes (gRPC) and piece sizes (TCP), in KiB.
    public var chunkKib = [256, 1024, 4096, 16384]
    /// Interleaved rounds (each runs every size over every path).
    public var rounds = 3
    /// Tokens per synthetic layer (576 floats each), 1...TransferBench.tokensPerLayer.
    public var layerTokens = TransferBench.tokensPerLayer
    public var dtype = WireDType.f32
    public var sink = Sink.verify
    /// Untimed gRPC transfer before the rounds, in MiB (0: none).
    public var warmupMib = 256

    public init(grpcPort: Int, tcpPort: Int) { self.grpcPort = grpcPort; self.tcpPort = tcpPort }

    /// What the receiver does with each gRPC chunk.
    public enum Sink: String, CaseIterable, Sendable {
        /// XXH3 and header checks.
        case verify
        /// verify, then write the rows into a KV buffer, as decode does.
        case copy
        /// Parse only.
        case none

        /// The summary's `checksum` field.
        var checksumReport: String {
            switch self {
            case .verify: "xxh3-64 and headers verified per chunk"
            case .copy: "xxh3-64 and headers verified per chunk, then rows written into a KV buffer"
            case .none: "not verified (--sink none)"
            }
        }
    }

    /// Runs every round; `progress` sees one line per transfer as it finishes.
    public func run(progress: ((String) -> Void)? = nil) throws -> Summary {
        guard (1...TransferBench.tokensPerLayer).contains(layerTokens) else {
            throw BenchError.badOption("--layer-tokens must be in 1...\(TransferBench.tokensPerLayer), found \(layerTokens)")
        }
        guard mib >= 1, rounds >= 1, !chunkKib.isEmpty, chunkKib.allSatisfy({ $0 >= 1 }), warmupMib >= 0 else {
            throw BenchError.badOption("--mib, --rounds and every --chunk-kib must be ≥ 1, --warmup-mib ≥ 0")
        }
        let layers = TransferBench.layers(forTotal: mib << 20, layerTokens: layerTokens)
        let payloadBytes = layers * layerTokens * TransferBench.rowWidth * dtype.byteWidth
        let channel = TransportChannel(target: "127.0.0.1:\(grpcPort)", maxMessageBytes: 64 << 20)
        _ = try channel.checkHealth(deadline: .after(seconds: 10))
        // The decode side's KV destination: one layer [tokens, rowWidth] f32, rewritten per layer.
        var cache = [Float](repeating: 0, count: layerTokens * TransferBench.rowWidth)
        let warmupLayers = warmupMib > 0 ? TransferBench.layers(forTotal: warmupMib << 20, layerTokens: layerTokens) : 0
        let warmupBytes = warmupLayers * layerTokens * TransferBench.rowWidth * dtype.byteWidth
        if warmupLayers > 0, let first = chunkKib.first {
            _ = try cache.withUnsafeMutableBufferPointer {
                try receiveGRPC(channel, chunkBytes: first << 10, layers: warmupLayers, dtype: dtype, cache: $0)
            }
        }
        var runs = [[Path: PathRuns]](repeating: [:], count: chunkKib.count)
        let gigabytes = Double(payloadBytes) / 1e9
        for round in 0..<rounds {
            for (i, kib) in chunkKib.enumerated() {
                // Rotate the order, so no path always runs first or last.
                let shift = (round + i) % Path.allCases.count
                for path in Path.allCases[shift...] + Path.allCases[..<shift] {
                    let cpuStart = ProcessResources.cpuSeconds()
                    let run = try path == .grpc
                        ? cache.withUnsafeMutableBufferPointer {
                            try receiveGRPC(channel, chunkBytes: kib << 10, layers: layers, dtype: dtype, cache: $0)
                        }
                        : receiveTCP(totalBytes: payloadBytes, pieceBytes: kib << 10, checksummed: path == .tcpXXH3)
                    let receiverCPU = (ProcessResources.cpuSeconds() - cpuStart) / gigabytes
                    let senderCPU = run.senderCPUSeconds / gigabytes
                    let gbps = gigabytes / run.seconds
                    runs[i][path, default: PathRuns()].add(gbps: gbps, receiverCPU: receiverCPU, senderCPU: senderCPU)
                    progress?(String(format: "round %d  %6d KiB  %@  %.2f GB/s  CPU: receiver %.3f s/GB, sender %.3f s/GB", round + 1, kib,
                                     path.label, gbps, receiverCPU, senderCPU))
                }
            }
        }
        // Ratios pair each gRPC run with the TCP runs right beside it in the same round, so the
        // host's drift between rounds (TCP alone spreads ±15 % here) cancels out of them.
        let rows = chunkKib.indices.map { i -> Row in
            let g = runs[i][.grpc]!, t = runs[i][.tcp]!, c = runs[i][.tcpXXH3]!
            return Row(chunk_bytes: chunkKib[i] << 10, grpc_gbps: median(g.gbps),
                       tcp_gbps: median(t.gbps), ratio: pairedRatio(g.gbps, t.gbps),
                       grpc_runs: g.gbps, tcp_runs: t.gbps,
                       tcp_xxh3_gbps: median(c.gbps), tcp_xxh3_runs: c.gbps, ratio_vs_tcp_xxh3: pairedRatio(g.gbps, c.gbps),
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
                              dtype: dtype.description, checksum: sink.checksumReport, xxh3_gbps: Self.xxh3Speed(), rows: rows)
        return summary
    }

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
        let start = monotonicSeconds()
        let stream = try channel.serverStreaming(method: MethodPath.prefill, request: request,
                                                 metadata: [TransferBench.layersMetadataKey: "\(layers)"],
                                                 deadline: .after(seconds: 600))
        let verifier = KVChunkVerifier(expecting: expectation)
        var finished = false
        while let message = try stream.nextMessage() {
            switch try PrefillResponseView.parse(segments: message.segments) {
            case let .chunk(view):
                switch sink {
                case .verify: try verifier.accept(view)
                case .copy: try assembler.accept(view)
                case .none: break
                }
            case let .done(done):
                switch sink {
                case .verify: try verifier.finish(done)
                case .copy: try assembler.finish(done)
                case .none: break
                }
                finished = true
            }
        }
        guard finished else { throw TransportError.status(.dataLoss, "Prefill stream ended without PrefillDone") }
        let seconds = monotonicSeconds() - start
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
        let start = monotonicSeconds()
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
        let seconds = monotonicSeconds() - start
        var senderCPU: UInt64 = 0
        try withUnsafeMutableBytes(of: &senderCPU) { try TCPSocket.readExactly(fd, $0.baseAddress!, 8) }
        return Run(seconds: seconds, senderCPUSeconds: Double(bitPattern: UInt64(littleEndian: senderCPU)))
    }

    /// XXH3 alone over 64 MiB in cache-cold pieces (GB/s), for the record.
    static func xxh3Speed() -> Double {
        let bytes = [UInt8](repeating: 0x5A, count: 64 << 20)
        return bytes.withUnsafeBytes { all in
            let start = monotonicSeconds()
            var sink: UInt64 = 0
            for _ in 0..<4 { sink ^= XXH3.hash64(all) }
            let seconds = monotonicSeconds() - start
            return sink == 1 ? 0 : Double(4 * all.count) / seconds / 1e9
        }
    }
}
