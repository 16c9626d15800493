/// Pre-token → ids, for `Tokenizer.encode`: an open-addressing table whose slots hold a hash tag and
/// the offset of the entry in one flat arena ([key count, id count, key scalars..., ids...]), so a
/// miss reads one slot line and a hit one more line, with no allocation and no SipHash. The hash is
/// seeded per process (text comes from users; a fixed hash could be flooded). Not thread-safe: the
/// tokenizer guards it.
struct PieceCache {
    private var slots: [UInt64]         // [capacity]: tag << 32 | (arena offset + 1); 0 free
    private var arena: [UInt32] = []
    private(set) var count = 0
    private var mask: Int
    let limit: Int
    private let seed: UInt64
    private static let initialCapacity = 4096

    /// Holds up to `limit` pieces; when full it starts over empty. The table grows with its content
    /// (at most half full): a small table stays in the CPU caches.
    init(limit: Int) {
        self.limit = limit
        mask = Self.initialCapacity - 1
        slots = [UInt64](repeating: 0, count: Self.initialCapacity)
        var rng = SystemRandomNumberGenerator()
        seed = rng.next()
    }

    @inline(__always) private func hash(_ piece: UnsafeBufferPointer<UInt32>) -> UInt64 {
        var h = seed ^ UInt64(piece.count)
        for v in piece {
            h = (h ^ UInt64(v)) &* 0xBF58_476D_1CE4_E5B9
            h ^= h >> 31
        }
        h ^= h >> 29
        return h &* 0x94D0_49BB_1331_11EB
    }

    /// Where a lookup ended: the piece's hash and the free slot it would take.
    struct Miss { fileprivate let hash: UInt64; fileprivate let slot: Int }

    /// Appends the cached ids of `piece` to `out` and returns nil, or returns where to insert them.
    mutating func append(_ piece: UnsafeBufferPointer<UInt32>, to out: inout [Int]) -> Miss? {
        let h = hash(piece)
        let tag = h >> 32
        var slot = Int(truncatingIfNeeded: h) & mask
        return slots.withUnsafeBufferPointer { slots in
            arena.withUnsafeBufferPointer { arena in
                while true {
                    let s = slots[slot]
                    if s == 0 { return Miss(hash: h, slot: slot) }
                    if s >> 32 == tag {
                        let at = Int(s & 0xFFFF_FFFF) - 1
                        let keyCount = Int(arena[at]), idCount = Int(arena[at + 1])
                        if keyCount == piece.count,
                           UnsafeBufferPointer(rebasing: arena[at + 2..<at + 2 + keyCount]).elementsEqual(piece) {
                            let ids = at + 2 + keyCount
                            for k in ids..<ids + idCount { out.append(Int(arena[k])) }
                            return nil
                        }
                    }
                    slot = (slot + 1) & mask
                }
            }
        }
    }

    /// Caches `ids` for `piece`, which the lookup that returned `miss` did not find.
    mutating func insert(_ piece: UnsafeBufferPointer<UInt32>, ids: ArraySlice<Int>, at miss: Miss) {
        var slot = miss.slot
        if count >= limit {
            count = 0
            arena.removeAll(keepingCapacity: true)
            slots = [UInt64](repeating: 0, count: Self.initialCapacity)
            mask = Self.initialCapacity - 1
            slot = freeSlot(miss.hash)
        } else if 2 * (count + 1) > slots.count {
            grow()
            slot = freeSlot(miss.hash)
        }
        slots[slot] = (miss.hash >> 32) << 32 | UInt64(arena.count + 1)
        count += 1
        arena.append(UInt32(piece.count))
        arena.append(UInt32(ids.count))
        arena.append(contentsOf: piece)
        for id in ids { arena.append(UInt32(truncatingIfNeeded: id)) }
    }

    private func freeSlot(_ hash: UInt64) -> Int {
        var slot = Int(truncatingIfNeeded: hash) & mask
        while slots[slot] != 0 { slot = (slot + 1) & mask }
        return slot
    }

    /// Twice the slots; every entry rehashed from its key in the arena.
    private mutating func grow() {
        slots = [UInt64](repeating: 0, count: 2 * slots.count)
        mask = slots.count - 1
        var at = 0
        while at < arena.count {
            let keyCount = Int(arena[at]), idCount = Int(arena[at + 1])
            let h = arena.withUnsafeBufferPointer { hash(UnsafeBufferPointer(rebasing: $0[at + 2..<at + 2 + keyCount])) }
            slots[freeSlot(h)] = (h >> 32) << 32 | UInt64(at + 1)
            at += 2 + keyCount + idCount
        }
    }
}
