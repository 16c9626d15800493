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
    private let merges: MergeTable
    private let singleScalarID: [UInt32: Int]
    /// [denseScalars]: the id of the one-scalar token of each small scalar value, -1 none (every symbol
    /// of a byte-level vocabulary is below U+0144).
    private let denseSingleID: [Int32]
    private static let denseScalars = 0x800
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
        var merges: [(key: UInt64, value: UInt64)] = []
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
            merges.append((UInt64(l) << 32 | UInt64(r), UInt64(rank) << 32 | UInt64(merged)))
        }
        self.tokenToID = tokenToID
        self.idToToken = idToToken
        self.merges = MergeTable(merges)
        singleScalarID = singles
        var dense = [Int32](repeating: -1, count: Self.denseScalars)
        for (scalar, id) in singles where scalar < Self.denseScalars { dense[Int(scalar)] = Int32(id) }
        denseSingleID = dense
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

    /// A tiktoken vocabulary (`tokens[rank]`: the bytes of the token whose id is that rank) as the BPE
    /// tiktoken runs on a piece: a piece in the vocabulary is that one token (`ignore_merges`), else
    /// adjacent parts merge, the one whose concatenation has the lowest rank first, leftmost on a tie.
    /// Tokens are spelled in the byte-level alphabet (the ByteLevel pre-tokenizer feeds this model, as
    /// in HF's conversions of tiktoken files). The merges are every split of a token into two tokens,
    /// each ranked by the token's own rank — not HF's converter, which ranks two splits of one token
    /// apart and so can pick the right one of two overlapping candidates where tiktoken picks the left.
    init(tiktokenTokens tokens: [[UInt8]]) throws {
        var tokenToID: [TokenKey: Int] = [:], idToToken: [Int: String] = [:]
        tokenToID.reserveCapacity(tokens.count)
        idToToken.reserveCapacity(tokens.count)
        var byteID = [Int](repeating: -1, count: 256)
        for (id, bytes) in tokens.enumerated() {
            let spelled = string(bytes.map { ByteLevelAlphabet.scalarForByte[Int($0)] })
            guard tokenToID.updateValue(id, forKey: TokenKey(spelled)) == nil else {
                throw TokenizerError.malformed(file: "tiktoken.model", detail: "token of rank \(id) appears twice")
            }
            idToToken[id] = spelled
            if bytes.count == 1 { byteID[Int(bytes[0])] = id }
        }
        if let missing = byteID.firstIndex(of: -1) {
            throw TokenizerError.malformed(file: "tiktoken.model", detail: String(format: "no token for the byte 0x%02X", missing))
        }
        let index = ByteStringIndex(tokens)
        var merges: [(key: UInt64, value: UInt64)] = []
        merges.reserveCapacity(tokens.count * 2)
        for (id, bytes) in tokens.enumerated() where bytes.count > 1 {
            for cut in 1..<bytes.count {
                guard let l = index.id(of: bytes[..<cut]), let r = index.id(of: bytes[cut...]) else { continue }
                merges.append((UInt64(l) << 32 | UInt64(r), UInt64(id) << 32 | UInt64(id)))
            }
        }
        self.tokenToID = tokenToID
        self.idToToken = idToToken
        self.merges = MergeTable(merges)
        var singles: [UInt32: Int] = [:]
        var dense = [Int32](repeating: -1, count: Self.denseScalars)
        for (b, id) in byteID.enumerated() {
            let scalar = ByteLevelAlphabet.scalarForByte[b]
            singles[scalar] = id
            dense[Int(scalar)] = Int32(id)
        }
        singleScalarID = singles
        denseSingleID = dense
        byteFallbackIDs = nil
        unkID = nil
        fuseUnk = false
        ignoreMerges = true
        continuingSubwordPrefix = nil
        endOfWordSuffix = nil
    }

    private func id(ofScalar c: UInt32, isFirst: Bool, isLast: Bool) -> Int? {
        if (isFirst || continuingSubwordPrefix == nil) && (!isLast || endOfWordSuffix == nil) {
            if c < Self.denseScalars { let id = denseSingleID[Int(c)]; return id < 0 ? nil : Int(id) }
            return singleScalarID[c]
        }
        var text = string(CollectionOfOne(c))
        if !isFirst, let p = continuingSubwordPrefix { text = p + text }
        if isLast, let x = endOfWordSuffix { text += x }
        return tokenToID[TokenKey(text)]
    }

    /// Buffers of `tokenize`, reused across the pieces of one encode call.
    final class Scratch {
        var symbols: [Int] = []
        private(set) var capacity = 0
        // [capacity] each: the symbol ids being merged, the linked list of live symbols, and the
        // merge heap (at most n - 1 initial pairs plus two per merge).
        private(set) var ids = UnsafeMutablePointer<Int32>.allocate(capacity: 1)
        private(set) var next = UnsafeMutablePointer<Int32>.allocate(capacity: 1)
        private(set) var prev = UnsafeMutablePointer<Int32>.allocate(capacity: 1)
        private(set) var heap = UnsafeMutablePointer<HeapEntry>.allocate(capacity: 1)

        init() {}

        /// Room for `n` symbols.
        func reserve(_ n: Int) {
            guard n > capacity else { return }
            let c = max(n, 2 * capacity, 64)
            ids.deallocate(); next.deallocate(); prev.deallocate(); heap.deallocate()
            ids = .allocate(capacity: c); next = .allocate(capacity: c); prev = .allocate(capacity: c)
            heap = .allocate(capacity: 3 * c)
            capacity = c
        }

        deinit { ids.deallocate(); next.deallocate(); prev.deallocate(); heap.deallocate() }
    }

    /// A candidate merge: rank << 32 | left position (the order HF's queue pops), the merged id.
    struct HeapEntry { var key: UInt64; var newID: Int32 }

    /// One pre-token (scalars) → ids.
    func tokenize(_ word: [UInt32]) -> [Int] {
        var out: [Int] = []
        word.withUnsafeBufferPointer { tokenize($0, into: &out, scratch: Scratch()) }
        return out
    }

    /// One pre-token (scalars) → ids appended to `out`.
    func tokenize(_ word: UnsafeBufferPointer<UInt32>, into out: inout [Int], scratch: Scratch) {
        if word.isEmpty { return }
        if ignoreMerges, let id = tokenToID[TokenKey(scalars: word)] { out.append(id); return }
        // Initial symbols: one per scalar (HF: per char), with byte fallback / unk.
        scratch.symbols.removeAll(keepingCapacity: true)
        var pendingUnk = false
        for i in 0..<word.count {
            if let id = id(ofScalar: word[i], isFirst: i == 0, isLast: i == word.count - 1) {
                if pendingUnk, let unkID { scratch.symbols.append(unkID) }
                pendingUnk = false
                scratch.symbols.append(id)
                continue
            }
            if let fallback = byteFallbackIDs {
                for b in string(CollectionOfOne(word[i])).utf8 { scratch.symbols.append(fallback[Int(b)]) }
                continue
            }
            if let unkID {
                if pendingUnk, !fuseUnk { scratch.symbols.append(unkID) }
                pendingUnk = true
            }
        }
        if pendingUnk, let unkID { scratch.symbols.append(unkID) }
        mergeAll(scratch, into: &out)
    }

    /// HF `Word::merge_all` on `scratch.symbols`: repeatedly merge the adjacent pair of lowest rank,
    /// leftmost first (a queue of candidate merges; entries made stale by earlier merges are skipped);
    /// the result is appended to `out`.
    private func mergeAll(_ s: Scratch, into out: inout [Int]) {
        let n = s.symbols.count
        if n < 2 { out += s.symbols; return }
        s.reserve(n)
        let ids = s.ids, next = s.next, prev = s.prev, heap = s.heap
        for i in 0..<n {
            ids[i] = Int32(truncatingIfNeeded: s.symbols[i])
            next[i] = Int32(i + 1)        // n = none
            prev[i] = Int32(i - 1)        // -1 = none; a merged-away symbol gets next = -1
        }
        var count = 0
        func push(_ pos: Int) {
            let r = Int(next[pos])
            guard r < n, let m = merges[Int(ids[pos]), Int(ids[r])] else { return }
            let entry = HeapEntry(key: (m >> 32) << 32 | UInt64(pos), newID: Int32(truncatingIfNeeded: m))
            var c = count
            count += 1
            while c > 0 {
                let p = (c - 1) / 2
                if heap[p].key <= entry.key { break }
                heap[c] = heap[p]
                c = p
            }
            heap[c] = entry
        }
        func pop() -> HeapEntry {
            let top = heap[0]
            count -= 1
            if count > 0 {
                let last = heap[count]
                var c = 0
                while true {
                    let l = 2 * c + 1
                    if l >= count { break }
                    var m = l
                    if l + 1 < count, heap[l + 1].key < heap[l].key { m = l + 1 }
                    if heap[m].key >= last.key { break }
                    heap[c] = heap[m]
                    c = m
                }
                heap[c] = last
            }
            return top
        }
        for pos in 0..<(n - 1) { push(pos) }
        while count > 0 {
            let top = pop()
            let pos = Int(top.key & 0xFFFF_FFFF)
            let right = Int(next[pos])
            guard right >= 0, right < n else { continue }   // merged away, or the last symbol
            guard let m = merges[Int(ids[pos]), Int(ids[right])], Int32(truncatingIfNeeded: m) == top.newID else { continue }
            ids[pos] = top.newID
            let after = next[right]
            next[right] = -1
            next[pos] = after
            if Int(after) < n { prev[Int(after)] = Int32(pos) }
            if prev[pos] >= 0 { push(Int(prev[pos])) }
            push(pos)
        }
        var p = 0
        while p < n { out.append(Int(ids[p])); p = Int(next[p]) }
    }
}

/// The id of a byte string among a vocabulary's tokens, looked up by slice (no key array per lookup:
/// deriving a tiktoken vocabulary's merges looks up both halves of every split of every token).
private struct ByteStringIndex {
    private let tokens: [[UInt8]]
    private var slots: [Int32]      // [capacity]: token id, -1 free
    private let mask: Int

    init(_ tokens: [[UInt8]]) {
        self.tokens = tokens
        var capacity = 16
        while capacity < tokens.count * 2 { capacity <<= 1 }
        mask = capacity - 1
        slots = [Int32](repeating: -1, count: capacity)
        for (id, bytes) in tokens.enumerated() {
            var slot = Self.hash(bytes[...]) & mask
            while slots[slot] >= 0 { slot = (slot + 1) & mask }
            slots[slot] = Int32(id)
        }
    }

    /// FNV-1a.
    private static func hash(_ s: ArraySlice<UInt8>) -> Int {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for b in s { h = (h ^ UInt64(b)) &* 0x100_0000_01B3 }
        return Int(truncatingIfNeeded: h ^ h >> 29)
    }

    func id(of s: ArraySlice<UInt8>) -> Int? {
        var slot = Self.hash(s) & mask
        while slots[slot] >= 0 {
            let id = Int(slots[slot])
            if tokens[id].elementsEqual(s) { return id }
            slot = (slot + 1) & mask
        }
        return nil
    }
}
