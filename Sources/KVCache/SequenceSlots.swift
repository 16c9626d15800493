/// One live sequence of the cache: the tokens its pages hold, the most it may grow to, rows written
/// and page table.
struct SequenceSlot {
    /// The sequence id, or -1 while the slot is free.
    var id: Int
    /// Positions the held pages cover: min(limit, pageCount × pageSize).
    var capacity: Int
    /// The capacity the sequence may grow to (`grow`); its page table has room for that many pages.
    var limit: Int
    var length: Int
    /// Pages held (the first `pageCount` entries of `pages`).
    var pageCount: Int
    /// [pages for `limit`] page ids in position order, the first `pageCount` held; allocated at
    /// `allocate`, freed at `release`.
    var pages: UnsafeMutablePointer<Int32>?
    /// Positions 0..<sharedTokens lie in pages shared with a prefix index: read-only.
    var sharedTokens: Int

    static let free = SequenceSlot(id: -1, capacity: 0, limit: 0, length: 0, pageCount: 0, pages: nil, sharedTokens: 0)
}

/// Fixed array of sequence slots with id → slot lookup by arithmetic (no dictionary, no lock).
///
/// A sequence id is `serial * slotCount + slot` with a serial that only grows, so ids are never
/// reused and a stale id fails the lookup. Slots are plain memory: the decode thread reads and
/// writes the slot of a live sequence while the allocator (under the cache's lock) fills or clears
/// other slots; the two never touch the same slot unless a sequence is released while in use.
final class SequenceSlots {
    let slotCount: Int
    private let slots: UnsafeMutablePointer<SequenceSlot>  // [slotCount]
    private var freeSlots: [Int]                           // stack of free slot indices
    private var nextSerial = 0
    private(set) var liveCount = 0

    init(slotCount: Int) {
        self.slotCount = slotCount
        slots = .allocate(capacity: slotCount)
        slots.initialize(repeating: .free, count: slotCount)
        freeSlots = Array((0..<slotCount).reversed())  // pop order 0, 1, 2, ...
    }

    deinit {
        for slot in 0..<slotCount { slots[slot].pages?.deallocate() }
        slots.deinitialize(count: slotCount)
        slots.deallocate()
    }

    /// The slot of a live sequence, or nil.
    @inline(__always)
    func slotIndex(of sequence: Int) -> Int? {
        guard sequence >= 0 else { return nil }
        let slot = sequence % slotCount
        return slots[slot].id == sequence ? slot : nil
    }

    @inline(__always)
    subscript(slot: Int) -> SequenceSlot {
        get { slots[slot] }
    }

    @inline(__always)
    func setLength(_ length: Int, slot: Int) { slots[slot].length = length }

    /// Records pages added at the end of the slot's table (caller holds the cache lock).
    func setHeld(pageCount: Int, capacity: Int, slot: Int) {
        slots[slot].pageCount = pageCount
        slots[slot].capacity = capacity
    }

    /// Claims a slot for a new sequence (caller holds the cache lock and checked `liveCount < slotCount`).
    func insert(capacity: Int, limit: Int, pageCount: Int, pages: UnsafeMutablePointer<Int32>, sharedTokens: Int) -> Int {
        let slot = freeSlots.removeLast()
        let id = nextSerial * slotCount + slot
        nextSerial += 1
        slots[slot] = SequenceSlot(id: id, capacity: capacity, limit: limit, length: sharedTokens, pageCount: pageCount, pages: pages,
                                   sharedTokens: sharedTokens)
        liveCount += 1
        return id
    }

    /// Clears a slot and hands back its former contents (caller holds the cache lock and frees the pages).
    func remove(slot: Int) -> SequenceSlot {
        let entry = slots[slot]
        slots[slot] = .free
        freeSlots.append(slot)
        liveCount -= 1
        return entry
    }
}
