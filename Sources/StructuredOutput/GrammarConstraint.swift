/// A byte grammar a token mask can walk: a small value, copied per byte of a token prefix, that takes
/// bytes under its rules (JSONGrammar: none; JSONSchemaState: the compiled schema; RegexState: the DFA; GBNFState: its
/// sequence's GBNFMatcher).
public protocol ByteGrammar: Sendable {
    associatedtype Rules
    /// Takes `byte` if the text can still become whole; false leaves the state unchanged.
    mutating func accept(_ byte: UInt8, in rules: Rules) -> Bool
    /// The text is whole: EOS may end it.
    func canEnd(in rules: Rules) -> Bool
    /// More bytes may follow.
    var canContinue: Bool { get }
    /// Inside a string between characters, the string-content tokens that are taken and change nothing
    /// the mask depends on (`StringContent`); nil elsewhere.
    var stringContentTaken: StringContent? { get }
}

extension JSONGrammar: ByteGrammar {
    public mutating func accept(_ byte: UInt8, in _: Void) -> Bool { accept(byte) }
    public func canEnd(in _: Void) -> Bool { isComplete }
    public var canContinue: Bool { !isComplete }
}

extension JSONSchemaState: ByteGrammar {}

/// A structured output over a model's tokens: which tokens may come next (those whose bytes the
/// grammar takes after the text so far, and EOS where the text is whole), and the state after a
/// sampled token. One per sequence; its scratch is allocated here, none per token.
public final class GrammarConstraint<Grammar: ByteGrammar> {
    private let rules: Grammar.Rules
    private let vocabulary: TokenVocabulary
    private let eosTokenIDs: [Int]
    private var grammar: Grammar
    /// A sampled token the grammar refused (a caller that bypassed the mask): nothing is allowed after it.
    private var broken = false
    /// [longest + 1] the grammar after each prefix of the token being tried (entry 0: the current state).
    private var prefixStates: [Grammar]

    public init(_ start: Grammar, rules: Grammar.Rules, vocabulary: TokenVocabulary, eosTokenIDs: [Int]) {
        self.rules = rules
        self.vocabulary = vocabulary
        self.eosTokenIDs = eosTokenIDs
        grammar = start
        prefixStates = [Grammar](repeating: start, count: vocabulary.longest + 1)
    }

    /// The text so far is whole (EOS may end it).
    public var canEnd: Bool { !broken && grammar.canEnd(in: rules) }

    /// Calls `body` with every token allowed next, each once, then EOS where the text is whole. An EOS id
    /// that the tokenizer also spells as text (not a special token) is EOS only: it would end the text.
    public func forEachAllowed(_ body: (Int) -> Void) {
        guard !broken else { return }
        if grammar.canContinue {
            if let kind = grammar.stringContentTaken {
                let split = vocabulary.split(kind)
                for t in split.content where !eosTokenIDs.contains(Int(t)) { body(Int(t)) }
                walk(split.rest, body)
            } else {
                walk(vocabulary.all, body)
            }
        }
        if grammar.canEnd(in: rules) { for t in eosTokenIDs { body(t) } }
    }

    /// Every token of `tokens` the grammar takes from its current state (EOS ids aside): each fed only
    /// the bytes past the prefix it shares with the one before (their states kept in `prefixStates`).
    private func walk(_ tokens: SortedTokens, _ body: (Int) -> Void) {
        let count = tokens.count
        let rules = rules
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
                                guard s.accept(bytes[start + k], in: rules) else { refused = true; break }
                                states[k + 1] = s
                                k += 1
                            }
                            valid = k
                            if !refused && !eosTokenIDs.contains(Int(tokens.ids[i])) { body(Int(tokens.ids[i])) }
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
        for b in bytes where !next.accept(b, in: rules) { broken = true; return }
        if bytes.isEmpty { broken = true } else { grammar = next }
    }
}

/// `response_format: {"type": "json_object"}`: one JSON object.
public typealias JSONObjectConstraint = GrammarConstraint<JSONGrammar>

extension GrammarConstraint where Grammar == JSONGrammar {
    public convenience init(vocabulary: TokenVocabulary, eosTokenIDs: [Int], anyWhitespace: Bool = true) {
        self.init(JSONGrammar(anyWhitespace: anyWhitespace), rules: (), vocabulary: vocabulary, eosTokenIDs: eosTokenIDs)
    }
}

/// `response_format: {"type": "json_schema", ...}`: one value of the schema.
public typealias JSONSchemaConstraint = GrammarConstraint<JSONSchemaState>

extension GrammarConstraint where Grammar == JSONSchemaState {
    public convenience init(schema: JSONSchema, vocabulary: TokenVocabulary, eosTokenIDs: [Int]) {
        self.init(JSONSchemaState(), rules: schema, vocabulary: vocabulary, eosTokenIDs: eosTokenIDs)
    }
}

/// `structured_outputs.regex`: one whole match of the pattern.
public typealias RegexConstraint = GrammarConstraint<RegexState>

extension GrammarConstraint where Grammar == RegexState {
    public convenience init(regex: RegexAutomaton, vocabulary: TokenVocabulary, eosTokenIDs: [Int]) {
        self.init(RegexState(regex), rules: regex, vocabulary: vocabulary, eosTokenIDs: eosTokenIDs)
    }
}

/// `structured_outputs.grammar`: one whole match of a GBNF grammar.
public typealias GBNFConstraint = GrammarConstraint<GBNFState>

extension GrammarConstraint where Grammar == GBNFState {
    /// A walk of its own: the matcher remembers this sequence's steps.
    public convenience init(grammar: GBNFGrammar, vocabulary: TokenVocabulary, eosTokenIDs: [Int]) {
        let matcher = GBNFMatcher(grammar)
        self.init(matcher.startState, rules: matcher, vocabulary: vocabulary, eosTokenIDs: eosTokenIDs)
    }
}

/// What a request's structured output samples under, built once at admission (the vocabulary shared by
/// the process, the schema compiled for the request); each sampler makes its own constraint from it.
public enum StructuredGrammar: Sendable {
    case jsonObject(TokenVocabulary, anyWhitespace: Bool = true)
    case jsonSchema(JSONSchema, TokenVocabulary)
    case regex(RegexAutomaton, TokenVocabulary)
    case grammar(GBNFGrammar, TokenVocabulary)

    /// A fresh walk from the grammar's start.
    public func constraint(eosTokenIDs: [Int]) -> any TokenMask {
        switch self {
        case let .jsonObject(vocabulary, anyWhitespace):
            return JSONObjectConstraint(vocabulary: vocabulary, eosTokenIDs: eosTokenIDs, anyWhitespace: anyWhitespace)
        case let .jsonSchema(schema, vocabulary): return JSONSchemaConstraint(schema: schema, vocabulary: vocabulary, eosTokenIDs: eosTokenIDs)
        case let .regex(regex, vocabulary): return RegexConstraint(regex: regex, vocabulary: vocabulary, eosTokenIDs: eosTokenIDs)
        case let .grammar(grammar, vocabulary): return GBNFConstraint(grammar: grammar, vocabulary: vocabulary, eosTokenIDs: eosTokenIDs)
        }
    }
}

/// A structured output's per-sequence state as the sampler uses it: the tokens allowed next, and the
/// step past a sampled one.
public protocol TokenMask: AnyObject {
    func forEachAllowed(_ body: (Int) -> Void)
    func advance(_ token: Int)
}

extension GrammarConstraint: TokenMask {}
