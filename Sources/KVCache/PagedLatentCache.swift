import Basics
import Foundation

/// Latent KV cache (c_kv ‖ k_pe rows, `rowWidth` elements per token per layer) in fixed-size pages,
/// held as f32 or bf16 (`dtype`; rows come and go as f32 through `write` / `read`, bf16 rounding to
/// nearest-even on the way in, exactly as the bf16 wire encodes them).
/// Storage: one buffer per layer, [pageCount, pageSize, rowWidth] elements, 64-byte aligned, allocated once;
/// so a sequence's rows of one layer are contiguous within a page, and consecutive page ids merge into longer runs.
///
/// Thread-safety: the decode loop owns row access (`row`, `write`, `read`, `forEachRun`, `length`,
/// `setLength`) on one thread, lock-free. `allocate`, `release`, `freePageCount` and
/// `activeSequenceCount` take a lock and may be called from any thread (gRPC handlers) while the
/// decode loop runs; `grow` takes it too but changes the sequence's own slot, so only the thread
/// that owns the sequence's rows calls it. The one rule: a sequence must not be released while
/// another thread still accesses its rows (the engine drops it from its batch first, then releases).
public final class PagedLatentCache: @unchecked Sendable {
    public let layers: Int
    public let rowWidth: Int
    public let pageSize: Int
    public let pageCount: Int
    public let dtype: LatentDType

    private let elementsPerPage: Int               // pageSize * rowWidth
    private let storage: LatentPageStorage         // [layers] × [pageCount, pageSize, rowWidth] of dtype
    private let sequences: SequenceSlots           // at most pageCount live sequences (≥ 1 page each)
    private var allocator: PageAllocator           // guarded by `lock`
    private let lock = NSLock()

    /// `resident`: every page in memory from the start (daemons); otherwise pages become resident when first written.
    public init(layers: Int, rowWidth: Int, pageSize: Int, pageCount: Int, dtype: LatentDType = .f32, resident: Bool = false) throws {
        for (name, value) in [("layers", layers), ("rowWidth", rowWidth), ("pageSize", pageSize), ("pageCount", pageCount)]
        where value < 1 {
            throw KVCacheError.invalidConfiguration("\(name) must be ≥ 1, got \(value)")
        }
        guard pageCount <= Int(Int32.max) else {
            throw KVCacheError.invalidConfiguration("pageCount must fit Int32 page ids (≤ \(Int32.max)), got \(pageCount)")
        }
        let (perPage, overflowPage) = pageSize.multipliedReportingOverflow(by: rowWidth)
        let (perLayer, overflowLayer) = perPage.multipliedReportingOverflow(by: pageCount)
        guard !overflowPage, !overflowLayer else {
            throw KVCacheError.invalidConfiguration(
                "pageCount × pageSize × rowWidth = \(pageCount) × \(pageSize) × \(rowWidth) overflows Int")
        }
        self.layers = layers
        self.rowWidth = rowWidth
        self.pageSize = pageSize
        self.pageCount = pageCount
        self.dtype = dtype
        self.elementsPerPage = perPage
        self.storage = try LatentPageStorage(layers: layers, elementsPerLayer: perLayer, elementBytes: dtype.byteWidth, resident: resident)
        self.sequences = SequenceSlots(slotCount: pageCount)
        self.allocator = PageAllocator(pageCount: pageCount)
    }

    /// Bytes one token occupies across all layers: layers × rowWidth × (4 or 2).
    public var bytesPerToken: Int { layers * rowWidth * dtype.byteWidth }

    /// Bytes of one page of one layer: pageSize × rowWidth × (4 or 2).
    public var bytesPerPage: Int { elementsPerPage * dtype.byteWidth }

    /// Pages a cache of `bytes` holds (all layers of a page count): ⌊bytes / (layers × bytesPerPage)⌋.
    public static func pageCount(fittingBytes bytes: Int, layers: Int, rowWidth: Int, pageSize: Int, dtype: LatentDType) -> Int {
        let perPage = layers * pageSize * rowWidth * dtype.byteWidth
        return perPage > 0 ? bytes / perPage : 0
    }

    public var freePageCount: Int {
        lock.lock(); defer { lock.unlock() }
        return allocator.freeCount
    }

    public var activeSequenceCount: Int {
        lock.lock(); defer { lock.unlock() }
        return sequences.liveCount
    }

    /// Pages a sequence of `tokens` capacity takes: ceil(tokens / pageSize).
    public func pagesNeeded(forTokens tokens: Int) -> Int {
        tokens / pageSize + (tokens % pageSize == 0 ? 0 : 1)
    }

    // MARK: Allocation (locked)

    /// A sequence that may grow to `capacity` tokens, with pages for `holding` of them now (default:
    /// all, so it never runs out mid-sequence; fewer, and `grow` adds pages as it lengthens — decode's
    /// pages on demand). Throws outOfPages, allocating nothing, when the held pages don't fit. Pages
    /// come from one contiguous run when one is long enough (best fit), else from the fewest, longest runs.
    ///
    /// `sharing`: pages in use (held by a prefix index) that become the sequence's first pages, each
    /// full of rows for its positions: the sequence starts at length sharing.count × pageSize, and
    /// writes below that throw (`sharedRows`). Only the remaining pages are taken from the free ones.
    /// Returns a sequence id, never reused (also after release).
    public func allocate(capacity: Int, holding: Int? = nil, sharing shared: [Int32] = []) throws -> Int {
        guard capacity >= 1 else {
            throw KVCacheError.invalidArgument("capacity must be ≥ 1 token, got \(capacity)")
        }
        let held = holding ?? capacity
        guard held >= 1, held <= capacity else {
            throw KVCacheError.invalidArgument("a sequence holds 1...capacity (\(capacity)) tokens' pages, asked \(held)")
        }
        let tablePages = pagesNeeded(forTokens: capacity)
        let heldPages = max(pagesNeeded(forTokens: held), shared.count)
        guard shared.count <= tablePages, shared.count * pageSize <= capacity else {
            throw KVCacheError.invalidArgument("\(shared.count) shared pages exceed a capacity of \(capacity) tokens")
        }
        lock.lock(); defer { lock.unlock() }
        for page in shared where page < 0 || Int(page) >= pageCount || allocator.referenceCount(page) == 0 {
            throw KVCacheError.invalidArgument("shared page \(page) is not a page in use")
        }
        let fresh = heldPages - shared.count
        guard fresh <= allocator.freeCount else {
            throw KVCacheError.outOfPages(requestedTokens: held, neededPages: fresh, freePages: allocator.freeCount)
        }
        let table = UnsafeMutablePointer<Int32>.allocate(capacity: tablePages)
        for (i, page) in shared.enumerated() { table[i] = page }
        allocator.retain(shared)
        let taken = allocator.take(fresh, into: table + shared.count)
        precondition(taken, "page allocator refused \(fresh) pages with \(allocator.freeCount) free")
        return sequences.insert(capacity: min(capacity, heldPages * pageSize), limit: capacity, pageCount: heldPages, pages: table,
                                sharedTokens: shared.count * pageSize)
    }

    /// Adds pages at the end of a sequence until it holds `tokens` positions (≤ the capacity it was
    /// allocated with). Returns false, adding nothing, when too few pages are free. Call it from the
    /// thread that owns the sequence's rows (decode: the batcher, between steps).
    public func grow(_ sequence: Int, toHold tokens: Int) throws -> Bool {
        lock.lock(); defer { lock.unlock() }
        guard let slot = sequences.slotIndex(of: sequence) else { throw KVCacheError.unknownSequence(sequence) }
        let entry = sequences[slot]
        guard tokens <= entry.limit else {
            throw KVCacheError.positionOutOfRange(sequence: sequence, position: tokens - 1, capacity: entry.limit)
        }
        guard tokens > entry.capacity, let pages = entry.pages else { return true }
        let heldPages = pagesNeeded(forTokens: tokens)
        let fresh = heldPages - entry.pageCount
        guard fresh <= allocator.freeCount else { return false }
        let taken = allocator.take(fresh, into: pages + entry.pageCount)
        precondition(taken, "page allocator refused \(fresh) pages with \(allocator.freeCount) free")
        sequences.setHeld(pageCount: heldPages, capacity: min(entry.limit, heldPages * pageSize), slot: slot)
        return true
    }

    /// Gives back the sequence's reference on each of its pages (pages nobody else holds are free
    /// again). Returns false (and does nothing) for an id that is not live, so releasing twice is harmless.
    @discardableResult
    public func release(_ sequence: Int) -> Bool {
        lock.lock(); defer { lock.unlock() }
        guard let slot = sequences.slotIndex(of: sequence) else { return false }
        let entry = sequences.remove(slot: slot)
        if let pages = entry.pages {
            allocator.give(UnsafeBufferPointer(start: pages, count: entry.pageCount))
            pages.deallocate()
        }
        return true
    }

    /// A prefix index's reference on pages first..<first+count of a live sequence (kept past the
    /// sequence; one index reference per page); give it back with `unindexPages`.
    public func indexPages(of sequence: Int, first: Int, count: Int) throws -> [Int32] {
        lock.lock(); defer { lock.unlock() }
        guard let slot = sequences.slotIndex(of: sequence) else { throw KVCacheError.unknownSequence(sequence) }
        let entry = sequences[slot]
        guard first >= 0, count >= 0, first + count <= entry.pageCount, let pages = entry.pages else {
            throw KVCacheError.invalidArgument("pages \(first)..<\(first + count) of a sequence of \(entry.pageCount) pages")
        }
        let kept = Array(UnsafeBufferPointer(start: pages + first, count: count))
        allocator.retain(kept, byIndex: true)
        return kept
    }

    /// Gives back the prefix index's reference on each page (taken by `indexPages`).
    public func unindexPages(_ pages: [Int32]) {
        lock.lock(); defer { lock.unlock() }
        allocator.give(pages, byIndex: true)
    }

    /// Pages only a prefix index holds: reclaimable at once by evicting them (vLLM counts such
    /// cached blocks as free).
    public var indexOnlyPageCount: Int {
        lock.lock(); defer { lock.unlock() }
        return allocator.indexOnlyCount
    }

    /// References held on a page (0: free): its sequences and a prefix index.
    public func referenceCount(ofPage page: Int32) -> Int {
        lock.lock(); defer { lock.unlock() }
        return allocator.referenceCount(page)
    }

    // MARK: Sequence state (decode thread, no lock)

    /// Positions the sequence's pages hold now (≤ its `limit`).
    public func capacity(of sequence: Int) throws -> Int {
        try liveEntry(sequence).capacity
    }

    /// The capacity the sequence was allocated with: what `grow` may extend it to.
    public func limit(of sequence: Int) throws -> Int {
        try liveEntry(sequence).limit
    }

    /// Rows written so far (the model advances it with `setLength`).
    public func length(of sequence: Int) throws -> Int {
        try liveEntry(sequence).length
    }

    /// Sets the rows-written count; 0...capacity.
    public func setLength(_ length: Int, of sequence: Int) throws {
        guard let slot = sequences.slotIndex(of: sequence) else { throw KVCacheError.unknownSequence(sequence) }
        let capacity = sequences[slot].capacity
        guard length >= 0 && length <= capacity else {
            throw KVCacheError.positionOutOfRange(sequence: sequence, position: length, capacity: capacity)
        }
        sequences.setLength(length, slot: slot)
    }

    /// The sequence's page ids in position order (a copy, for inspection and shipping metadata).
    public func pageTable(of sequence: Int) throws -> [Int32] {
        let entry = try liveEntry(sequence)
        return Array(UnsafeBufferPointer(start: entry.pages, count: entry.pageCount))
    }

    /// Throws the error `forEachRun` would trap on: unknown sequence, bad layer, count outside 0...capacity.
    /// Call it once where a sequence joins a batch; `forEachRun` itself cannot throw (it rethrows).
    public func checkRuns(sequence: Int, layer: Int, count: Int) throws {
        let entry = try liveEntry(sequence)
        try checkLayer(layer)
        guard count >= 0 && count <= entry.capacity else {
            throw KVCacheError.positionOutOfRange(sequence: sequence, position: count, capacity: entry.capacity)
        }
    }

    // MARK: Row access (decode thread, no lock, no allocation)

    /// Pointer to the row of (sequence, layer, position) of an f32 cache; position < capacity. [rowWidth] floats.
    public func row(sequence: Int, layer: Int, position: Int) throws -> UnsafeMutablePointer<Float> {
        guard dtype == .f32 else { throw KVCacheError.dtypeMismatch(expected: .f32, cache: dtype) }
        return try rowBytes(sequence: sequence, layer: layer, position: position).assumingMemoryBound(to: Float.self)
    }

    /// The stored bytes of the row of (sequence, layer, position), any dtype; position < capacity.
    /// [rowWidth] elements of `dtype`; the rows to the end of its page follow contiguously.
    public func rowBytes(sequence: Int, layer: Int, position: Int) throws -> UnsafeMutableRawPointer {
        let entry = try liveEntry(sequence)
        try checkLayer(layer)
        guard position >= 0 && position < entry.capacity else {
            throw KVCacheError.positionOutOfRange(sequence: sequence, position: position, capacity: entry.capacity)
        }
        return rowPointer(entry, layer: layer, position: position)
    }

    /// Stores `count` contiguous f32 rows ([count, rowWidth]) at positions start..<start+count of a layer
    /// (crossing pages); a bf16 cache rounds each to nearest-even (`BFloat16.bits`). Positions in shared
    /// pages are read-only.
    public func write(sequence: Int, layer: Int, start: Int, rows: UnsafePointer<Float>, count: Int) throws {
        let entry = try checkedRange(sequence: sequence, layer: layer, start: start, count: count)
        guard count == 0 || start >= entry.sharedTokens else {
            throw KVCacheError.sharedRows(sequence: sequence, position: start, sharedTokens: entry.sharedTokens)
        }
        let dtype = dtype
        forEachPageSpan(entry, layer: layer, start: start, count: count) { destination, rowOffset, rowCount in
            let source = rows + rowOffset * rowWidth, n = rowCount * rowWidth
            switch dtype {
            case .f32: destination.assumingMemoryBound(to: Float.self).update(from: source, count: n)
            case .bf16: BFloat16.encode(UnsafeBufferPointer(start: source, count: n), into: destination)
            }
        }
    }

    /// Copies rows start..<start+count of a layer out into `into` ([count, rowWidth] f32; bf16 upcast exactly).
    public func read(sequence: Int, layer: Int, start: Int, count: Int, into: UnsafeMutablePointer<Float>) throws {
        let entry = try checkedRange(sequence: sequence, layer: layer, start: start, count: count)
        let dtype = dtype
        forEachPageSpan(entry, layer: layer, start: start, count: count) { source, rowOffset, rowCount in
            let destination = into + rowOffset * rowWidth, n = rowCount * rowWidth
            switch dtype {
            case .f32: destination.update(from: source.assumingMemoryBound(to: Float.self), count: n)
            case .bf16: BFloat16.decode(UnsafeRawPointer(source), count: n, into: destination)
            }
        }
    }

    /// Visits maximal contiguous runs covering positions start..<count (start defaults to 0) of a layer
    /// of an f32 cache: body(firstRowPointer, firstPosition, rowCount). A run is [rowCount, rowWidth]
    /// contiguous floats.
    /// No allocation per call (hot path of decode attention). An unknown sequence, a bad layer, count
    /// outside 0...capacity or a bf16 cache is a programmer error and traps (a rethrowing function
    /// cannot throw its own errors); use `checkRuns` to get the first three as an error.
    public func forEachRun(sequence: Int, layer: Int, from start: Int = 0, count: Int,
                           _ body: (UnsafePointer<Float>, Int, Int) throws -> Void) rethrows {
        guard dtype == .f32 else { fatalError("forEachRun: \(KVCacheError.dtypeMismatch(expected: .f32, cache: dtype))") }
        try forEachRawRun(sequence: sequence, layer: layer, from: start, count: count) { run, first, rows in
            try body(run.assumingMemoryBound(to: Float.self), first, rows)
        }
    }

    /// forEachRun over a bf16 cache: each run is [rowCount, rowWidth] contiguous bf16 values.
    public func forEachBF16Run(sequence: Int, layer: Int, from start: Int = 0, count: Int,
                               _ body: (UnsafePointer<UInt16>, Int, Int) throws -> Void) rethrows {
        guard dtype == .bf16 else { fatalError("forEachBF16Run: \(KVCacheError.dtypeMismatch(expected: .bf16, cache: dtype))") }
        try forEachRawRun(sequence: sequence, layer: layer, from: start, count: count) { run, first, rows in
            try body(run.assumingMemoryBound(to: UInt16.self), first, rows)
        }
    }

    /// The runs of forEachRun as raw bytes (rows of rowWidth elements of `dtype`).
    private func forEachRawRun(sequence: Int, layer: Int, from start: Int, count: Int,
                               _ body: (UnsafeRawPointer, Int, Int) throws -> Void) rethrows {
        guard let slot = sequences.slotIndex(of: sequence) else {
            fatalError("forEachRun: \(KVCacheError.unknownSequence(sequence))")
        }
        let entry = sequences[slot]
        guard layer >= 0 && layer < layers else {
            fatalError("forEachRun: \(KVCacheError.layerOutOfRange(layer: layer, layers: layers))")
        }
        guard count >= 0 && count <= entry.capacity else {
            fatalError("forEachRun: \(KVCacheError.positionOutOfRange(sequence: sequence, position: count, capacity: entry.capacity))")
        }
        guard start >= 0 && start <= count else {
            fatalError("forEachRun: positions \(start)..<\(count)")
        }
        guard count > start, let pages = entry.pages else { return }
        let base = storage.layerBases[layer], rowBytes = rowWidth * dtype.byteWidth
        let lastPage = (count - 1) / pageSize
        var runFirstPage = start / pageSize
        var firstPosition = start
        while runFirstPage <= lastPage {
            var runLastPage = runFirstPage
            while runLastPage < lastPage && pages[runLastPage + 1] == pages[runLastPage] &+ 1 { runLastPage += 1 }
            let endPosition = min(count, (runLastPage + 1) * pageSize)
            let first = base + Int(pages[runFirstPage]) * pageBytes + (firstPosition % pageSize) * rowBytes
            try body(UnsafeRawPointer(first), firstPosition, endPosition - firstPosition)
            runFirstPage = runLastPage + 1
            firstPosition = runFirstPage * pageSize
        }
    }

    // MARK: Helpers

    @inline(__always)
    private func liveEntry(_ sequence: Int) throws -> SequenceSlot {
        guard let slot = sequences.slotIndex(of: sequence) else { throw KVCacheError.unknownSequence(sequence) }
        return sequences[slot]
    }

    @inline(__always)
    private func checkLayer(_ layer: Int) throws {
        guard layer >= 0 && layer < layers else { throw KVCacheError.layerOutOfRange(layer: layer, layers: layers) }
    }

    /// Validates start..<start+count against the sequence's capacity (overflow-safe).
    private func checkedRange(sequence: Int, layer: Int, start: Int, count: Int) throws -> SequenceSlot {
        let entry = try liveEntry(sequence)
        try checkLayer(layer)
        guard count >= 0 else { throw KVCacheError.invalidArgument("row count must be ≥ 0, got \(count)") }
        guard start >= 0 && start <= entry.capacity else {
            throw KVCacheError.positionOutOfRange(sequence: sequence, position: start, capacity: entry.capacity)
        }
        guard count <= entry.capacity - start else {
            throw KVCacheError.positionOutOfRange(sequence: sequence, position: start + count - 1, capacity: entry.capacity)
        }
        return entry
    }

    /// Bytes of one page of one layer (bytesPerPage, stored).
    private var pageBytes: Int { elementsPerPage &* dtype.byteWidth }

    @inline(__always)
    private func rowPointer(_ entry: SequenceSlot, layer: Int, position: Int) -> UnsafeMutableRawPointer {
        let page = Int(entry.pages.unsafelyUnwrapped[position / pageSize])
        return storage.layerBases[layer] + page * pageBytes + (position % pageSize) * rowWidth * dtype.byteWidth
    }

    /// Calls body(firstRowPointer, rowOffsetFromStart, rowCount) for each page-bounded span of start..<start+count.
    @inline(__always)
    private func forEachPageSpan(_ entry: SequenceSlot, layer: Int, start: Int, count: Int,
                                 _ body: (UnsafeMutableRawPointer, Int, Int) -> Void) {
        var position = start
        let end = start + count
        while position < end {
            let rowCount = min(end - position, pageSize - position % pageSize)
            body(rowPointer(entry, layer: layer, position: position), position - start, rowCount)
            position += rowCount
        }
    }
}
