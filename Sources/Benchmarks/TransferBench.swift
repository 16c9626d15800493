/// What both halves of the KV transfer benchmark agree on: the synthetic KV shape, the metadata
/// keys, and how the raw TCP stream is cut into pieces.
public enum TransferBench {
    /// Latent KV row width of DeepSeek-V3 (kv_lora_rank 512 + rope 64), f32 on the wire.
    static let rowWidth = 576
    static let rowBytes = rowWidth * 4
    /// Tokens per synthetic layer at most (and by default): [16384, 576] f32 = 36 MiB, more than
    /// L3, so the sender reads its source from DRAM as a long prompt's cache would be.
    public static let tokensPerLayer = 16_384
    static let fingerprint = "bench:synthetic-576"
    static let layersMetadataKey = "x-bench-layers"
    static let senderCPUMetadataKey = "x-bench-sender-cpu-seconds"

    /// Layers of `layerTokens` f32 rows to send so a transfer is about `totalBytes`.
    static func layers(forTotal totalBytes: Int, layerTokens: Int) -> Int {
        let layerBytes = layerTokens * rowBytes
        return max(1, (totalBytes + layerBytes / 2) / layerBytes)
    }

    /// One layer of pseudo-random floats [tokensPerLayer, rowWidth] (the same every run).
    static func syntheticLayer() -> [Float] {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        return (0..<(tokensPerLayer * rowWidth)).map { _ in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Float(Int32(truncatingIfNeeded: state >> 33)) / Float(1 << 30)
        }
    }

    /// Bytes of the raw TCP piece that starts `sent` bytes into a transfer of `total`: at most
    /// `pieceBytes`, cut at the end of each `layerBytes` cycle. Sender and receiver both cut the
    /// stream with it, so the receiver can check each checksummed piece.
    static func tcpPieceBytes(at sent: Int, total: Int, pieceBytes: Int, layerBytes: Int) -> Int {
        min(pieceBytes, total - sent, layerBytes - sent % layerBytes)
    }

}
