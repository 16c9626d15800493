/// Automatic prefix caching: which full pages of earlier prompts' rows a cache still holds, keyed by
/// the tokens that made them, so a prompt starting with the same tokens reuses those pages instead of
/// computing them (vLLM's block hashes; SGLang's radix tree). A page's rows at a position depend on
/// every token before it, so an entry's key is its parent entry and its page's own tokens — exact
/// token arrays, not hashes, so two prompts never collide. A prompt's first page is keyed by its
/// salt too (vLLM's cache_salt): prompts reuse each other's pages only under the same salt, so one
/// tenant cannot learn from a faster first token that another sent the same prefix.
///
/// The index holds one reference on each entry's page (`PagedLatentCache.indexPages`); a sequence
/// allocated with `allocate(sharing:)` holds another while it lives. Eviction drops leaves (entries
/// no other entry extends), least recently matched first.
///
/// Entry ids are handed out in insertion order from 1, so two indexes that see the same inserts and
/// evictions in the same order (the ranks of one prefill group) name the same entries alike; an
/// eviction by id (`evict(ids:)`) replays another index's choice. Not thread-safe: one owner.
public final class PrefixIndex {
    public typealias EntryID = UInt32

    private struct Key: Hashable {
        var parent: EntryID              // 0: the prompt's first page
        var salt: String                 // the prompt's salt on its first page; "" below
        var tokens: [Int32]              // [pageSize]
    }

    private struct Entry {
        var key: Key
        var page: Int32
        var children: Int
        var lastUse: UInt64
    }

    public let cache: PagedLatentCache
    private var ids: [Key: EntryID] = [:]
    private var entries: [EntryID: Entry] = [:]
    private var nextID: EntryID = 1
    private var clock: UInt64 = 0

    public init(cache: PagedLatentCache) { self.cache = cache }

    deinit { removeAll() }

    /// Pages the index holds (one per entry).
    public var pageCount: Int { entries.count }

    /// Entries of the longest run of cached pages starting `prompt`, at most `maxPages` (position
    /// order); marks them used now. Their pages are `pages(of:)`.
    public func match(_ prompt: [Int32], salt: String = "", maxPages: Int) -> [EntryID] {
        let size = cache.pageSize
        var found: [EntryID] = [], parent: EntryID = 0
        clock += 1
        while found.count < max(0, maxPages), (found.count + 1) * size <= prompt.count {
            let start = found.count * size
            guard let id = ids[Key(parent: parent, salt: parent == 0 ? salt : "", tokens: Array(prompt[start..<start + size]))] else { break }
            entries[id]!.lastUse = clock
            found.append(id)
            parent = id
        }
        return found
    }

    /// The cache pages of entries (from `match`).
    public func pages(of found: [EntryID]) -> [Int32] { found.map { entries[$0]!.page } }

    /// Adds the full pages of `prompt`, whose rows `sequence` holds from position 0, that the index
    /// lacks (one reference each); pages already indexed keep their entry. Returns the new entries.
    @discardableResult
    public func insert(_ prompt: [Int32], salt: String = "", sequence: Int) throws -> [EntryID] {
        let size = cache.pageSize
        var parent: EntryID = 0, added: [EntryID] = []
        clock += 1
        for p in 0..<prompt.count / size {
            let key = Key(parent: parent, salt: parent == 0 ? salt : "", tokens: Array(prompt[p * size..<(p + 1) * size]))
            if let id = ids[key] {
                entries[id]!.lastUse = clock
                parent = id
                continue
            }
            let page = try cache.indexPages(of: sequence, first: p, count: 1)[0]
            let id = nextID
            nextID += 1
            ids[key] = id
            entries[id] = Entry(key: key, page: page, children: 0, lastUse: clock)
            if parent != 0 { entries[parent]!.children += 1 }
            added.append(id)
            parent = id
        }
        return added
    }

    /// Evicts least recently used leaves whose page only the index holds until the cache has
    /// `freePages` free pages or no such leaf is left (evicting a page a sequence still holds frees
    /// nothing). Returns the evicted entries in order.
    public func evict(untilFree freePages: Int) -> [EntryID] {
        var evicted: [EntryID] = []
        // In passes over the leaves of the moment, least recently used first (a parent is used at
        // least as recently as its children: a match or an insert marks the whole chain). A parent
        // that becomes a leaf waits for the next pass: one sort per pass, not one scan per page.
        while cache.freePageCount < freePages {
            let leaves = entries.filter { $0.value.children == 0 && cache.referenceCount(ofPage: $0.value.page) == 1 }
                .sorted { ($0.value.lastUse, $0.key) < ($1.value.lastUse, $1.key) }
            if leaves.isEmpty { break }
            for (id, _) in leaves {
                if cache.freePageCount >= freePages { break }
                remove(id)
                evicted.append(id)
            }
        }
        return evicted
    }

    /// Evicts exactly these entries, in order (another index's `evict(untilFree:)`); each must be a
    /// leaf when its turn comes.
    public func evict(ids evicted: [EntryID]) throws {
        for id in evicted {
            guard let entry = entries[id], entry.children == 0 else { throw PrefixIndexError.notALeaf(id) }
            remove(id)
        }
    }

    /// Drops every entry (and the index's references).
    public func removeAll() {
        let pages = entries.values.map(\.page)
        ids.removeAll()
        entries.removeAll()
        if !pages.isEmpty { cache.unindexPages(pages) }
    }

    private func remove(_ id: EntryID) {
        let entry = entries.removeValue(forKey: id)!
        ids.removeValue(forKey: entry.key)
        if entry.key.parent != 0 { entries[entry.key.parent]!.children -= 1 }
        cache.unindexPages([entry.page])
    }
}

public enum PrefixIndexError: Error, CustomStringConvertible, Equatable {
    case notALeaf(PrefixIndex.EntryID)

    public var description: String {
        switch self {
        case .notALeaf(let id): return "prefix cache: entry \(id) to evict is missing or still extended (the ranks' prefix caches differ)"
        }
    }
}
