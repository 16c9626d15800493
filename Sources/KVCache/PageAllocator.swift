/// Free-page bookkeeping for `PagedLatentCache` (not thread-safe: the cache guards it with its lock).
///
/// A free flag per page id; allocation prefers one contiguous run (best fit: the shortest free run
/// that holds the request, earliest on ties) so that a sequence's pages merge into long runs, and
/// falls back to the fewest runs (longest first) when fragmentation leaves no single run long enough.
struct PageAllocator {
    let pageCount: Int
    private(set) var freeCount: Int
    private var isFree: [Bool]  // [pageCount]

    init(pageCount: Int) {
        self.pageCount = pageCount
        self.freeCount = pageCount
        self.isFree = [Bool](repeating: true, count: pageCount)
    }

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

    /// Marks the pages free again.
    mutating func give(_ table: UnsafeBufferPointer<Int32>) {
        for page in table {
            let index = Int(page)
            precondition(!isFree[index], "page \(index) released twice")
            isFree[index] = true
        }
        freeCount += table.count
    }

    /// Maximal runs of consecutive free page ids, ascending by start.
    func freeRuns() -> [(start: Int, length: Int)] {
        var runs: [(start: Int, length: Int)] = []
        var page = 0
        while page < pageCount {
            if !isFree[page] { page += 1; continue }
            let start = page
            while page < pageCount && isFree[page] { page += 1 }
            runs.append((start, page - start))
        }
        return runs
    }

    private mutating func claim(start: Int, length: Int, into table: UnsafeMutablePointer<Int32>) {
        for offset in 0..<length {
            isFree[start + offset] = false
            table[offset] = Int32(start + offset)
        }
    }
}
