import Foundation

/// UTF-8 bytes as a dictionary key: token strings are compared byte for byte, as in Rust (Swift's
/// String equality would merge canonically equivalent but distinct tokens).
struct TokenKey: Hashable {
    let bytes: [UInt8]
    init(_ s: String) { bytes = Array(s.utf8) }
    init(scalars: some Sequence<UInt32>) { bytes = Array(string(scalars).utf8) }
}

/// HF BPE model: vocabulary, ranked merges, optional byte fallback / unk / ignore_merges.
final class BPEModel: @unchecked Sendable {
    let tokenToID: [TokenKey: Int]
    let idToToken: [Int: String]
    /// (left id << 32 | right id) → (rank << 32 | merged id)
    private let merges: [UInt64: UInt64]
    private let singleScalarID: [UInt32: Int]
    private let byteFallbackIDs: [Int]?        // [256] ids of <0x00>...<0xFF>, when byte_fallback
    private let unkID: Int?
    private let fuseUnk: Bool
    private let ignoreMerges: Bool
    private let continuingSubwordPrefix: String?
    private let endOfWordSuffix: String?

    init(_ json: JSONValue) throws {
        func bad(_ d: String) -> TokenizerError { .malformed(file: "tokenizer.json", detail: "model: \(d)") }
        let type = json["type"]?.string ?? "BPE"
        guard type == "BPE" else {
            throw TokenizerError.unsupported(component: "model \(type)", detail: "only BPE is implemented")
        }
        if let dropout = json["dropout"], !dropout.isNull, dropout != .number(0) {
            throw TokenizerError.unsupported(component: "BPE dropout", detail: "dropout is a training-time option")
        }
        guard let vocabPairs = json["vocab"]?.objectPairs else { throw bad("missing vocab") }
        var tokenToID: [TokenKey: Int] = [:]
        tokenToID.reserveCapacity(vocabPairs.count)
        var idToToken: [Int: String] = [:]
        idToToken.reserveCapacity(vocabPairs.count)
        var singles: [UInt32: Int] = [:]
        for (token, value) in vocabPairs {
            guard let id = value.int else { throw bad("vocab id of \(token.debugDescription) is not an integer") }
            tokenToID[TokenKey(token)] = id
            idToToken[id] = token
            var it = token.unicodeScalars.makeIterator()
            if let first = it.next(), it.next() == nil { singles[first.value] = id }
        }
        var merges: [UInt64: UInt64] = [:]
        let mergeList = json["merges"]?.array ?? []
        merges.reserveCapacity(mergeList.count)
        for (rank, m) in mergeList.enumerated() {
            let left: String, right: String
            if let s = m.string {
                let parts = s.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: false)
                guard parts.count == 2 else { throw bad("merge \(s.debugDescription) is not 'a b'") }
                left = String(parts[0]); right = String(parts[1])
            } else if let a = m.array, a.count == 2, let l = a[0].string, let r = a[1].string {
                left = l; right = r
            } else {
                throw bad("merge #\(rank) is neither \"a b\" nor [\"a\", \"b\"]")
            }
            guard let l = tokenToID[TokenKey(left)], let r = tokenToID[TokenKey(right)] else {
                throw bad("merge \(left.debugDescription) \(right.debugDescription) uses a token outside the vocabulary")
            }
            guard let merged = tokenToID[TokenKey(left + right)] else {
                throw bad("merge result \((left + right).debugDescription) is not in the vocabulary")
            }
            let key = UInt64(l) << 32 | UInt64(r)
            if merges[key] == nil { merges[key] = UInt64(rank) << 32 | UInt64(merged) }
        }
        self.tokenToID = tokenToID
        self.idToToken = idToToken
        self.merges = merges
        singleScalarID = singles
        if json["byte_fallback"]?.bool == true {
            var ids: [Int] = []
            for b in 0..<256 {
                guard let id = tokenToID[TokenKey(String(format: "<0x%02X>", b))] else {
                    throw bad("byte_fallback is set but <0x\(String(format: "%02X", b))> is not in the vocabulary")
                }
                ids.append(id)
            }
            byteFallbackIDs = ids
        } else {
            byteFallbackIDs = nil
        }
        if let unk = json["unk_token"]?.string {
            guard let id = tokenToID[TokenKey(unk)] else { throw bad("unk_token \(unk.debugDescription) is not in the vocabulary") }
            unkID = id
        } else {
            unkID = nil
        }
        fuseUnk = json["fuse_unk"]?.bool ?? false
        ignoreMerges = json["ignore_merges"]?.bool ?? false
        continuingSubwordPrefix = json["continuing_subword_prefix"]?.string
        endOfWordSuffix = json["end_of_word_suffix"]?.string
    }

    private func id(ofSymbol s: ArraySlice<UInt32>, isFirst: Bool, isLast: Bool) -> Int? {
        if (isFirst || continuingSubwordPrefix == nil) && (!isLast || endOfWordSuffix == nil), s.count == 1 {
            return singleScalarID[s.first!]
        }
        var text = string(s)
        if !isFirst, let p = continuingSubwordPrefix { text = p + text }
        if isLast, let x = endOfWordSuffix { text += x }
        return tokenToID[TokenKey(text)]
    }

    /// One pre-token (scalars) → ids.
    func tokenize(_ word: [UInt32]) -> [Int] {
        if word.isEmpty { return [] }
        if ignoreMerges, let id = tokenToID[TokenKey(scalars: word)] { return [id] }
        // Initial symbols: one per scalar (HF: per char), with byte fallback / unk.
        var symbols: [Int] = []
        symbols.reserveCapacity(word.count)
        var pendingUnk = false
        for i in 0..<word.count {
            if let id = id(ofSymbol: word[i..<i + 1], isFirst: i == 0, isLast: i == word.count - 1) {
                if pendingUnk, let unkID { symbols.append(unkID) }
                pendingUnk = false
                symbols.append(id)
                continue
            }
            if let fallback = byteFallbackIDs {
                for b in string(word[i..<i + 1]).utf8 { symbols.append(fallback[Int(b)]) }
                continue
            }
            if let unkID {
                if pendingUnk, !fuseUnk { symbols.append(unkID) }
                pendingUnk = true
            }
        }
        if pendingUnk, let unkID { symbols.append(unkID) }
        return mergeAll(symbols)
    }

    /// HF `Word::merge_all`: repeatedly merge the adjacent pair of lowest rank, leftmost first.
    private func mergeAll(_ initial: [Int]) -> [Int] {
        var ids = initial
        let n = ids.count
        if n < 2 { return ids }
        var next = Array(1...n)              // n = none
        var prev = Array(-1..<(n - 1))
        var alive = [Bool](repeating: true, count: n)
        // Min-heap of (rank << 32 | pos) with the merged id alongside.
        var heap: [(key: UInt64, newID: Int)] = []
        func push(_ pos: Int) {
            let r = next[pos]
            guard r < n, let m = merges[UInt64(ids[pos]) << 32 | UInt64(ids[r])] else { return }
            heap.append(((m >> 32) << 32 | UInt64(pos), Int(m & 0xFFFF_FFFF)))
            var c = heap.count - 1
            while c > 0 {
                let p = (c - 1) / 2
                if heap[p].key <= heap[c].key { break }
                heap.swapAt(p, c)
                c = p
            }
        }
        func pop() -> (key: UInt64, newID: Int) {
            let top = heap[0]
            let last = heap.removeLast()
            if !heap.isEmpty {
                heap[0] = last
                var c = 0
                while true {
                    let l = 2 * c + 1, r = l + 1
                    var m = c
                    if l < heap.count, heap[l].key < heap[m].key { m = l }
                    if r < heap.count, heap[r].key < heap[m].key { m = r }
                    if m == c { break }
                    heap.swapAt(m, c)
                    c = m
                }
            }
            return top
        }
        for pos in 0..<(n - 1) { push(pos) }
        while !heap.isEmpty {
            let top = pop()
            let pos = Int(top.key & 0xFFFF_FFFF)
            guard alive[pos], next[pos] < n else { continue }
            let right = next[pos]
            // Skip entries made stale by earlier merges.
            guard let m = merges[UInt64(ids[pos]) << 32 | UInt64(ids[right])], Int(m & 0xFFFF_FFFF) == top.newID else { continue }
            ids[pos] = top.newID
            alive[right] = false
            next[pos] = next[right]
            if next[right] < n { prev[next[right]] = pos }
            if prev[pos] >= 0 { push(prev[pos]) }
            push(pos)
        }
        var out: [Int] = []
        out.reserveCapacity(n)
        var p = 0
        while p < n { out.append(ids[p]); p = next[p] }
        return out
    }
}
