/// Free-page bookkeeping for `PagedLatentCache` (not thread-safe: the cache guards it with its lock).
///
/// A reference count per page id (0: free): a page is taken with one reference, a prefix index or a
/// second sequence sharing it adds one, and it is free again when the last one is given back. Pages
/// a prefix index holds are marked, so the pages only an index holds (reclaimable) are counted.
/// Allocation prefers one contiguous run (best fit: the shortest free run
/// that holds the request, earliest on ties) so that a sequence's pages merge into long runs, and
/// falls back to the fewest runs (longest first) when fragmentation leaves no single run long enough.
struct PageAllocator {
    let pageCount: Int
    private(set) var freeCount: Int
    /// Pages whose one reference is a prefix index's.
    private(set) var indexOnlyCount = 0
    private var references: [Int32]  // [pageCount]; 0 = free
    private var indexed: [Bool]      // [pageCount]; one of the references is a prefix index's

    init(pageCount: Int) {
        self.pageCount = pageCount
        self.freeCount = pageCount
        self.references = [Int32](repeating: 0, count: pageCount)
        self.indexed = [Bool](repeating: false, count: pageCount)
    }

    private func isIndexOnly(_ page: Int) -> Bool { indexed[page] && references[page] == 1 }

    /// References held on a page id (0: free).
    func referenceCount(_ page: Int32) -> Int { Int(references[Int(page)]) }

    /// Writes `count` free page ids into `table` and marks them used; returns false (and changes
    /// nothing) when fewer than `count` pages are free.
    mutating func take(_ count: Int, into table: UnsafeMutablePointer<Int32>) -> Bool {
        guard count <= freeCount else { return false }
        if count == 0 { return true }
        let runs = freeRuns()
        if let best = runs.filter({ $0.length >= count }).min(by: { $0.length < $1.length }) {
            claim(start: best.start, length: count, into: table)
        } else {
            // Longest runs first: the fewest runs, each merging into one attention run.
            // Stable on start so equal lengths keep ascending page order.
            let ordered = runs.enumerated().sorted {
                $0.element.length != $1.element.length ? $0.element.length > $1.element.length : $0.offset < $1.offset
            }
            var written = 0
            for (_, run) in ordered where written < count {
                let length = min(run.length, count - written)
                claim(start: run.start, length: length, into: table + written)
                written += length
            }
        }
        freeCount -= count
        return true
    }

    /// One more reference on each page, all of them in use (checked by the caller); `byIndex`: the
    /// prefix index's (at most one per page).
    mutating func retain<S: Sequence>(_ pages: S, byIndex: Bool = false) where S.Element == Int32 {
        for page in pages {
            let p = Int(page), was = isIndexOnly(p)
            precondition(references[p] > 0, "page \(p) retained while free")
            if byIndex { precondition(!indexed[p], "page \(p) indexed twice"); indexed[p] = true }
            references[p] += 1
            indexOnlyCount += (isIndexOnly(p) ? 1 : 0) - (was ? 1 : 0)
        }
    }

    /// Gives one reference on each page back (`byIndex`: the prefix index's); a page whose last
    /// reference goes is free again.
    mutating func give<S: Sequence>(_ pages: S, byIndex: Bool = false) where S.Element == Int32 {
        for page in pages {
            let p = Int(page), was = isIndexOnly(p)
            precondition(references[p] > 0, "page \(p) released twice")
            if byIndex { precondition(indexed[p], "page \(p) is not indexed"); indexed[p] = false }
            references[p] -= 1
            if references[p] == 0 { freeCount += 1 }
            indexOnlyCount += (isIndexOnly(p) ? 1 : 0) - (was ? 1 : 0)
        }
    }

    /// Maximal runs of consecutive free page ids, ascending by start.
    func freeRuns() -> [(start: Int, length: Int)] {
        var runs: [(start: Int, length: Int)] = []
        var page = 0
        while page < pageCount {
            if references[page] != 0 { page += 1; continue }
            let start = page
            while page < pageCount && references[page] == 0 { page += 1 }
            runs.append((start, page - start))
        }
        return runs
    }

    private mutating func claim(start: Int, length: Int, into table: UnsafeMutablePointer<Int32>) {
        for offset in 0..<length {
            references[start + offset] = 1
            table[offset] = Int32(start + offset)
        }
    }
}
