/// Added / special tokens, matched in the text before pre-tokenization (HF `AddedVocabulary`):
/// leftmost-longest, tokens with `normalized: false` against the raw text, the others against the
/// normalized text; `lstrip` / `rstrip` swallow neighbouring whitespace, `single_word` requires
/// non-word neighbours.
struct AddedToken {
    let id: Int
    let content: String
    let singleWord: Bool
    let lstrip: Bool
    let rstrip: Bool
    let normalized: Bool
    let special: Bool
}

/// A trie over scalars finding leftmost-longest, non-overlapping occurrences of a set of strings.
struct TokenTrie {
    private var children: [[UInt32: Int32]] = [[:]]
    private var terminal: [Int] = [-1]  // node → index into the token list, -1 none
    /// [1024]: bit c set when a token starts with BMP scalar c (most text scalars start none: one bit
    /// test instead of a dictionary lookup per scalar).
    private var firstBMP = [UInt64](repeating: 0, count: 1024)

    var isEmpty: Bool { children.count == 1 }

    mutating func insert(_ s: [UInt32], value: Int) {
        guard !s.isEmpty else { return }
        if s[0] < 0x10000 { firstBMP[Int(s[0] >> 6)] |= 1 << UInt64(s[0] & 63) }
        var node = 0
        for c in s {
            if let n = children[node][c] {
                node = Int(n)
            } else {
                children.append([:])
                terminal.append(-1)
                children[node][c] = Int32(children.count - 1)
                node = children.count - 1
            }
        }
        if terminal[node] < 0 { terminal[node] = value }
    }

    /// The longest token starting at `i`: (end, value).
    func longest(in s: [UInt32], at i: Int) -> (Int, Int)? {
        if i < s.count, s[i] < 0x10000, firstBMP[Int(s[i] >> 6)] >> UInt64(s[i] & 63) & 1 == 0 { return nil }
        var node = 0
        var best: (Int, Int)?
        var j = i
        while j < s.count, let n = children[node][s[j]] {
            node = Int(n)
            j += 1
            if terminal[node] >= 0 { best = (j, terminal[node]) }
        }
        return best
    }
}

struct AddedVocabulary {
    let tokens: [AddedToken]
    private var rawTrie = TokenTrie()
    private var normalizedTrie = TokenTrie()
    let specialIDs: Set<Int>
    let contentByID: [Int: String]

    init(tokens: [AddedToken], normalizer: Normalizer?) {
        self.tokens = tokens
        for (k, t) in tokens.enumerated() {
            if t.normalized {
                let content = normalizer.map { $0.normalize(scalars(t.content)) } ?? scalars(t.content)
                normalizedTrie.insert(content, value: k)
            } else {
                rawTrie.insert(scalars(t.content), value: k)
            }
        }
        specialIDs = Set(tokens.filter(\.special).map(\.id))
        // As HF: the text of a `normalized` token is its normalized content (what decode shows).
        var byID: [Int: String] = [:]
        for t in tokens {
            byID[t.id] = t.normalized ? normalizer.map { string($0.normalize(scalars(t.content))) } ?? t.content : t.content
        }
        contentByID = byID
    }

    enum Segment {
        case text([UInt32])
        case token(Int)
    }

    /// Splits `s` into text and added-token segments using the raw (`normalized == false`) or the
    /// normalized token set.
    func split(_ s: [UInt32], normalizedSet: Bool) -> [Segment] {
        let trie = normalizedSet ? normalizedTrie : rawTrie
        if trie.isEmpty || s.isEmpty { return [.text(s)] }
        var out: [Segment] = []
        var startOffset = 0
        var i = 0
        while i < s.count {
            guard let (end, k) = trie.longest(in: s, at: i) else { i += 1; continue }
            let token = tokens[k]
            var start = i, stop = end
            if token.singleWord {
                let startOK = start == 0 || !AddedVocabulary.isWordChar(s[start - 1])
                let stopOK = stop == s.count || !AddedVocabulary.isWordChar(s[stop])
                if !startOK || !stopOK { i = end; continue }  // the match is consumed, as in aho-corasick's iterator
            }
            if token.lstrip {
                var j = start
                while j > 0, isWhitespace(s[j - 1]) { j -= 1 }
                start = max(j, startOffset)
            }
            if token.rstrip {
                while stop < s.count, isWhitespace(s[stop]) { stop += 1 }
            }
            if start > startOffset { out.append(.text(Array(s[startOffset..<start]))) }
            out.append(.token(token.id))
            startOffset = stop
            i = end
        }
        if startOffset < s.count { out.append(.text(Array(s[startOffset...]))) }
        return out
    }

    /// Rust regex `\w`: Alphabetic, marks, decimal digits, connector punctuation, join controls.
    static func isWordChar(_ c: UInt32) -> Bool {
        guard let s = Unicode.Scalar(c) else { return false }
        let p = s.properties
        if p.isAlphabetic || p.isJoinControl { return true }
        switch p.generalCategory {
        case .nonspacingMark, .spacingMark, .enclosingMark, .decimalNumber, .connectorPunctuation: return true
        default: return false
        }
    }
}
