import KVCache

/// One batch as every rank computes it.
struct PrefillBatch: Equatable {
    var prompts: [[Int32]]
    /// Per prompt the prompt logprobs' top k it asks for, if any (every rank computes its rows of
    /// those); nil when none asks.
    var promptLogprobs: [Int?]?
    /// Per prompt, its leading pages taken from the prefix cache (0 without one).
    var cachedPages: [Int]
    /// evictions[k]: prefix-cache entries rank 0 evicted before matching prompt k (k = prompts.count:
    /// after the last), which every other rank evicts at the same point so the indexes stay alike.
    var evictions: [[PrefixIndex.EntryID]]
    /// Per prompt, its cache salt ("" without): the prefix index keys its first page by it.
    var salts: [String]

    init(prompts: [[Int32]], promptLogprobs: [Int?]? = nil, cachedPages: [Int]? = nil, evictions: [[PrefixIndex.EntryID]]? = nil,
         salts: [String]? = nil) {
        self.prompts = prompts
        self.promptLogprobs = promptLogprobs
        self.cachedPages = cachedPages ?? prompts.map { _ in 0 }
        self.evictions = evictions ?? [[PrefixIndex.EntryID]](repeating: [], count: prompts.count + 1)
        self.salts = salts ?? prompts.map { _ in "" }
    }
}

/// What rank 0 broadcasts to the other ranks before each step: a batch, idle (no batch for a
/// while: free the step buffers), or stop.
/// Layout (UInt32 little-endian): [count, len_0, tokens_0..., len_1, tokens_1, ..., then per prompt
/// its prompt-logprobs word (0 none, k + 1 for k), then per prompt its cached pages, then count + 1
/// eviction lists (n, ids...), then per prompt its salt (n bytes, then the UTF-8 bytes in ⌈n / 4⌉
/// words, zero-padded)]; stop = [UInt32.max], idle = [UInt32.max - 1].
enum BatchMessage: Equatable {
    case batch(PrefillBatch)
    case idle
    case stop

    func encode() -> [UInt8] {
        var words: [UInt32] = []
        switch self {
        case .stop: words = [UInt32.max]
        case .idle: words = [UInt32.max - 1]
        case .batch(let batch):
            words.append(UInt32(batch.prompts.count))
            for p in batch.prompts { words.append(UInt32(p.count)); words += p.map { UInt32(bitPattern: $0) } }
            words += (batch.promptLogprobs ?? batch.prompts.map { _ in nil }).map { $0.map { UInt32($0) + 1 } ?? 0 }
            words += batch.cachedPages.map { UInt32($0) }
            for ids in batch.evictions { words.append(UInt32(ids.count)); words += ids }
            for salt in batch.salts {
                var bytes = Array(salt.utf8)
                words.append(UInt32(bytes.count))
                bytes += [UInt8](repeating: 0, count: (4 - bytes.count % 4) % 4)
                words += bytes.withUnsafeBytes { Array($0.bindMemory(to: UInt32.self)) }
            }
        }
        return words.withUnsafeBytes { Array($0) }
    }

    static func decode(_ bytes: [UInt8]) throws -> BatchMessage {
        guard bytes.count % 4 == 0, bytes.count >= 4 else { throw PrefillServiceError.corruptBatchMessage(bytes.count) }
        let words = bytes.withUnsafeBytes { Array($0.bindMemory(to: UInt32.self)) }
        if words[0] == UInt32.max { return .stop }
        if words[0] == UInt32.max - 1 { return .idle }
        var i = 1
        func take(_ n: Int) throws -> ArraySlice<UInt32> {
            guard n >= 0, n <= words.count - i else { throw PrefillServiceError.corruptBatchMessage(bytes.count) }
            defer { i += n }
            return words[i..<i + n]
        }
        let count = Int(words[0])
        var prompts: [[Int32]] = []
        for _ in 0..<count { prompts.append(try take(Int(try take(1).first!)).map { Int32(bitPattern: $0) }) }
        let wants = try take(count).map { $0 == 0 ? nil : Int($0) - 1 }
        let cachedPages = try take(count).map { Int($0) }
        var evictions: [[PrefixIndex.EntryID]] = []
        for _ in 0...count { evictions.append(Array(try take(Int(try take(1).first!)))) }
        var salts: [String] = []
        for _ in 0..<count {
            let n = Int(try take(1).first!)
            let packed = Array(try take((n + 3) / 4))
            let utf8 = packed.withUnsafeBytes { Array($0.prefix(n)) }
            guard let salt = String(validating: utf8, as: UTF8.self) else { throw PrefillServiceError.corruptBatchMessage(bytes.count) }
            salts.append(salt)
        }
        guard i == words.count else { throw PrefillServiceError.corruptBatchMessage(bytes.count) }
        return .batch(PrefillBatch(prompts: prompts, promptLogprobs: wants.contains { $0 != nil } ? wants : nil,
                                   cachedPages: cachedPages, evictions: evictions, salts: salts))
    }
}

public enum PrefillServiceError: Error, CustomStringConvertible {
    case corruptBatchMessage(Int)
    case cacheTooSmall(tokens: Int, cacheTokens: Int)
    case prefixCacheDiverged(rank: Int, pages: Int, found: Int)

    public var description: String {
        switch self {
        case .corruptBatchMessage(let n): return "corrupt batch broadcast from rank 0 (\(n) bytes)"
        case .cacheTooSmall(let t, let c): return "prompt of \(t) tokens exceeds the prefill KV cache (\(c) tokens)"
        case let .prefixCacheDiverged(rank, pages, found):
            return "prefix cache of rank \(rank) holds \(found) of the \(pages) pages rank 0 reuses (the ranks' prefix caches differ)"
        }
    }
}
