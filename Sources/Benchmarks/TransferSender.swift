import Basics
import Foundation
import Transport
import Wire

/// The sending half of the KV transfer benchmark: a Prefill gRPC server streaming synthetic
/// latent KV (chunked, XXH3-checksummed) and a raw TCP server sending the same bytes.
public enum TransferSender {
    /// Listens on 127.0.0.1 (port 0: any free port), announces "<grpc port> <tcp port>" (written to
    /// `portFile` once listening, else printed), serves for `maxSeconds`, then stops.
    public static func run(grpcPort: Int, tcpPort: Int, portFile: String?, maxSeconds: Double) throws {
        let layer = TransferBench.syntheticLayer()
        let server = TransportServer(port: grpcPort, maxMessageBytes: 64 << 20)
        server.registerServerStreaming(MethodPath.prefill) { context, bytes, writer in
            try Self.streamPrefill(context: context, request: try PrefillRequest(decoding: bytes), layer: layer, writer: writer)
        }
        server.registerHealthService(services: [MethodPath.prefillService])
        try server.start()
        let (listener, boundTCP) = try TCPSocket.listen(port: tcpPort)
        Thread.detachNewThread { Self.serveTCP(listener: listener, layer: layer) }
        let ports = "\(server.port) \(boundTCP)\n"
        if let portFile {
            try ports.write(toFile: portFile + ".tmp", atomically: false, encoding: .utf8)
            rename(portFile + ".tmp", portFile)
        } else {
            print(ports, terminator: "")
            fflush(stdout)
        }
        Thread.sleep(forTimeInterval: maxSeconds)
        server.shutdown(gracePeriod: 1)
    }

    /// Streams `layers` copies of `layer` as KV chunks of the requested size, then PrefillDone.
    static func streamPrefill(context: RequestContext, request: PrefillRequest, layer: [Float], writer: StreamWriter) throws {
        let layers = Int(context.metadata[TransferBench.layersMetadataKey] ?? "1") ?? 1
        let tokens = min(request.promptTokenIds.count, TransferBench.tokensPerLayer)
        let start = monotonicSeconds()
        let cpuStart = ProcessResources.cpuSeconds()
        let chunker = try KVChunker(requestId: request.requestId, modelFingerprint: TransferBench.fingerprint,
                                    rowWidth: TransferBench.rowWidth, dtype: request.dtype,
                                    maxChunkBytes: Int(request.maxChunkBytes), pageSize: Int(request.pageSize))
        try layer.withUnsafeBufferPointer { all in
            let rows = UnsafeBufferPointer(rebasing: all[0..<(tokens * TransferBench.rowWidth)])
            for index in 0..<layers {
                try chunker.forEachChunk(layer: index, rows: rows) { header, payload in
                    try PrefillResponse.withChunkEncoder(header: header, payload: payload) { try writer.send($0) }
                }
            }
        }
        // Whole-process CPU: exact while this is the only call in flight (the benchmark's case).
        context.trailingMetadata.append(TransferBench.senderCPUMetadataKey,
                                        String(ProcessResources.cpuSeconds() - cpuStart))
        try writer.send(PrefillResponse.done(PrefillDone(
            firstToken: 0, firstTokenLogprob: 0, totalPayloadBytes: chunker.payloadBytesProduced, tokens: UInt32(tokens),
            layers: UInt32(layers), prefillSeconds: monotonicSeconds() - start, pcpRanks: 1, chunks: chunker.nextChunkIndex)))
    }

    /// Each connection sends a 32-byte request (total bytes, write size, layer bytes, checksum flag;
    /// little-endian u64s) and gets the first layer-bytes of the layer repeated to that total,
    /// written in pieces of the write size, each followed by its XXH3-64 (8 bytes) when the flag is
    /// 1, then the process CPU seconds that took (f64 bits, little-endian).
    static func serveTCP(listener: Int32, layer: [Float]) {
        while true {
            let fd = accept(listener, nil, nil)
            guard fd >= 0 else { continue }
            defer { close(fd) }
            var request = [UInt64](repeating: 0, count: 4)
            do {
                try request.withUnsafeMutableBytes { try TCPSocket.readExactly(fd, $0.baseAddress!, 32) }
                let total = Int(UInt64(littleEndian: request[0]))
                let pieceBytes = max(1, Int(UInt64(littleEndian: request[1])))
                let cycle = min(max(TransferBench.rowBytes, Int(UInt64(littleEndian: request[2]))), layer.count * 4)
                let checksummed = UInt64(littleEndian: request[3]) == 1
                let cpuStart = ProcessResources.cpuSeconds()
                try layer.withUnsafeBytes { whole in
                    let bytes = UnsafeRawBufferPointer(rebasing: whole[0..<cycle])
                    var sent = 0
                    while sent < total {
                        let offset = sent % bytes.count
                        let count = TransferBench.tcpPieceBytes(at: sent, total: total, pieceBytes: pieceBytes, layerBytes: bytes.count)
                        let piece = UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + count)])
                        if checksummed {
                            var hash = XXH3.hash64(piece).littleEndian
                            try TCPSocket.writeAll(fd, piece)
                            try withUnsafeBytes(of: &hash) { try TCPSocket.writeAll(fd, $0) }
                        } else {
                            try TCPSocket.writeAll(fd, piece)
                        }
                        sent += count
                    }
                }
                var cpu = (ProcessResources.cpuSeconds() - cpuStart).bitPattern.littleEndian
                try withUnsafeBytes(of: &cpu) { try TCPSocket.writeAll(fd, $0) }
            } catch {
                FileHandle.standardError.write("transfer-send: TCP connection failed: \(error)\n".data(using: .utf8)!)
            }
        }
    }
}
