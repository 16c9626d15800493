/// `response_format: {"type": "json_object"}` over a model's tokens: which tokens may come next (those
/// whose bytes `JSONGrammar` accepts after the text so far, and EOS once the object has closed), and
/// the state after a sampled token. One per sequence; its scratch is allocated here, none per token.
public final class JSONObjectConstraint {
    private let vocabulary: TokenVocabulary
    private let eosTokenIDs: [Int]
    private var grammar = JSONGrammar()
    /// A sampled token the grammar refused (a caller that bypassed the mask): nothing is allowed after it.
    private var broken = false
    /// [longest + 1] the grammar after each prefix of the token being tried (entry 0: the current state).
    private var prefixStates: [JSONGrammar]

    public init(vocabulary: TokenVocabulary, eosTokenIDs: [Int]) {
        self.vocabulary = vocabulary
        self.eosTokenIDs = eosTokenIDs
        prefixStates = [JSONGrammar](repeating: JSONGrammar(), count: vocabulary.longest + 1)
    }

    /// The text so far is one whole JSON object.
    public var isComplete: Bool { grammar.isComplete && !broken }

    /// Calls `body` with every token allowed next, each once, then EOS once complete.
    public func forEachAllowed(_ body: (Int) -> Void) {
        guard !broken else { return }
        if grammar.isComplete {
            for t in eosTokenIDs { body(t) }
        } else if grammar.phase == .string {
            for t in vocabulary.stringContent { body(Int(t)) }
            walk(vocabulary.notStringContent, body)
        } else {
            walk(vocabulary.all, body)
        }
    }

    /// Every token of `tokens` the grammar takes from its current state: each fed only the bytes past
    /// the prefix it shares with the one before (their states kept in `prefixStates`).
    private func walk(_ tokens: SortedTokens, _ body: (Int) -> Void) {
        let count = tokens.count
        tokens.bytes.withUnsafeBufferPointer { bytes in
            tokens.offsets.withUnsafeBufferPointer { offsets in
                tokens.sharedPrefix.withUnsafeBufferPointer { shared in
                    prefixStates.withUnsafeMutableBufferPointer { states in
                        states[0] = grammar
                        // Bytes of the previous token its prefix states are valid for; a refusal at byte
                        // `valid` refuses every following token that shares more than `valid` bytes with it.
                        var valid = 0
                        var refused = false
                        for i in 0..<count {
                            let sharing = Int(shared[i])
                            if refused && sharing > valid { continue }
                            let start = Int(offsets[i]), length = Int(offsets[i + 1]) - start
                            var k = min(sharing, valid)
                            refused = false
                            while k < length {
                                var s = states[k]
                                guard s.accept(bytes[start + k]) else { refused = true; break }
                                states[k + 1] = s
                                k += 1
                            }
                            valid = k
                            if !refused { body(Int(tokens.ids[i])) }
                        }
                    }
                }
            }
        }
    }

    /// Moves past a sampled token (EOS and other tokens outside the vocabulary's bytes end the walk).
    public func advance(_ token: Int) {
        guard !broken else { return }
        let bytes = vocabulary.bytes(of: token)
        var next = grammar
        if bytes.isEmpty || !next.accept(bytes) { broken = true } else { grammar = next }
    }
}
