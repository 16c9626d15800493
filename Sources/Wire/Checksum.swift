import CXXHash

/// XXH3-64 (seed 0) from libxxhash: the KV chunk checksum (tens of GB/s on one core).
public enum XXH3 {
    public static func hash64(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        cxxhash_xxh3_64(bytes.baseAddress, bytes.count, 0)
    }

    /// Hash of the concatenation of `segments` (equal to hashing them as one contiguous buffer).
    public static func hash64(segments: [UnsafeRawBufferPointer]) -> UInt64 {
        let nonEmpty = segments.filter { $0.count > 0 }
        if nonEmpty.count <= 1 { return hash64(nonEmpty.first ?? UnsafeRawBufferPointer(start: nil, count: 0)) }
        let state = cxxhash_state_create(0)!
        defer { cxxhash_state_free(state) }
        for segment in nonEmpty { cxxhash_state_update(state, segment.baseAddress, segment.count) }
        return cxxhash_state_digest(state)
    }
}
