/// BPE merges as an open-addressing hash table: (left id << 32 | right id) → (rank << 32 | merged id).
/// A `Dictionary` spends most of a lookup in SipHash; the keys here are pairs of ids from one file,
/// so a multiplicative hash spreads them well. Read-only after init.
struct MergeTable {
    private var slots: [UInt64]     // [capacity, 2]: key (`empty` when free), value side by side (one cache line)
    private let mask: Int
    private static let empty = UInt64.max   // never a key: ids are < 2^31

    /// `pairs`: the first occurrence of a key wins (HF keeps the first rank of a duplicate merge).
    init(_ pairs: [(key: UInt64, value: UInt64)]) {
        var capacity = 16
        while capacity < pairs.count * 2 { capacity <<= 1 }
        mask = capacity - 1
        slots = [UInt64](repeating: Self.empty, count: 2 * capacity)
        for (key, value) in pairs {
            var slot = Self.slot(key, mask)
            while slots[2 * slot] != Self.empty && slots[2 * slot] != key { slot = (slot + 1) & mask }
            if slots[2 * slot] == Self.empty { slots[2 * slot] = key; slots[2 * slot + 1] = value }
        }
    }

    @inline(__always) private static func slot(_ key: UInt64, _ mask: Int) -> Int {
        Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> 32) & mask
    }

    /// (rank << 32 | merged id) of the pair, or nil.
    @inline(__always) subscript(left: Int, right: Int) -> UInt64? {
        let key = UInt64(truncatingIfNeeded: left) << 32 | UInt64(truncatingIfNeeded: right)
        return slots.withUnsafeBufferPointer { s in
            var slot = Self.slot(key, mask)
            while true {
                let found = s[2 * slot]
                if found == key { return s[2 * slot + 1] }
                if found == Self.empty { return nil }
                slot = (slot + 1) & mask
            }
        }
    }
}
