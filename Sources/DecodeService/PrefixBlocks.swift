/// A prompt's leading blocks as keys, for routing a prompt to the prefill daemon whose prefix cache
/// likely holds them: block i's key hashes block i − 1's key and block i's tokens, so equal keys
/// mean equal prompts up to there (and the same cache salt: the first key hashes it). Blocks of
/// `tokens` (pd-prefill's default page size, its prefix cache's unit), full ones before the prompt's
/// last token, as the prefix cache reuses them.
enum PrefixBlocks {
    static let tokens = 64

    static func keys(_ prompt: [UInt32], salt: String = "") -> [Int] {
        var keys: [Int] = [], previous = salt.hashValue
        keys.reserveCapacity(max(0, prompt.count - 1) / tokens)
        for start in stride(from: 0, to: max(0, prompt.count - 1) / tokens * tokens, by: tokens) {
            var hasher = Hasher()
            hasher.combine(previous)
            for t in prompt[start..<start + tokens] { hasher.combine(t) }
            previous = hasher.finalize()
            keys.append(previous)
        }
        return keys
    }

    /// The keys last sent to one prefill daemon, at most `capacity` (the least recently sent go first).
    struct Recent {
        static let capacity = 16384
        private var lastSent: [Int: UInt64] = [:]
        private var clock: UInt64 = 0

        /// How many of `keys`, from the first, were sent.
        func leadingMatches(_ keys: [Int]) -> Int {
            keys.firstIndex { lastSent[$0] == nil } ?? keys.count
        }

        mutating func insert(_ keys: [Int]) {
            clock += 1
            for k in keys { lastSent[k] = clock }
            if lastSent.count > Self.capacity {
                // Keep the most recent half: one sort per capacity / 2 inserts.
                let keep = lastSent.sorted { $0.value > $1.value }.prefix(Self.capacity / 2)
                lastSent = Dictionary(uniqueKeysWithValues: keep.map { ($0.key, $0.value) })
            }
        }
    }
}
