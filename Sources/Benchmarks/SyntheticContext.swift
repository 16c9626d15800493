import KVCache

/// A decode benchmark's context, without the long prefill that would produce it.
enum SyntheticContext {
    /// Writes `rows` deterministic latent rows per layer into every sequence and marks them written
    /// (decode cost does not depend on the values).
    static func fill(_ cache: PagedLatentCache, sequences: [Int], rows: Int) throws {
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
