import Foundation
import Tokenizer

/// Tokens sorted bytewise so that tokens sharing a prefix sit together: a grammar's token mask walks
/// them in order and, for each, feeds only the bytes past the prefix it shares with the one before
/// (`sharedPrefix`), skipping a whole run of tokens once a shared prefix is refused.
struct SortedTokens: Sendable {
    let ids: [Int32]
    let offsets: [Int32]               // [count + 1] where each token's bytes are in `bytes`
    let bytes: [UInt8]
    let sharedPrefix: [Int32]          // [count] bytes token i shares with token i − 1 (0 for the first)

    /// `tokens` sorted bytewise, ids breaking ties.
    init(_ tokens: [(id: Int, bytes: [UInt8])]) {
        var ids = [Int32](), offsets: [Int32] = [0], bytes = [UInt8](), shared = [Int32]()
        var previous: [UInt8] = []
        for token in tokens.sorted(by: { $0.bytes.lexicographicallyPrecedes($1.bytes) || ($0.bytes == $1.bytes && $0.id < $1.id) }) {
            ids.append(Int32(token.id))
            bytes += token.bytes
            offsets.append(Int32(bytes.count))
            shared.append(Int32(zip(previous, token.bytes).prefix { $0 == $1 }.count))
            previous = token.bytes
        }
        self.ids = ids
        self.offsets = offsets
        self.bytes = bytes
        self.sharedPrefix = shared
    }

    var count: Int { ids.count }
}

/// Which tokens a grammar state between a string's characters takes and is left as it was by: the string
/// content with whole escapes (a free string), or without a backslash (a string written without escapes:
/// a dict's keys).
public enum StringContent: Sendable {
    case withEscapes, escapeFree
}

/// Tokens split for a state inside a string: those the mask adds without a walk (`content`) and the rest,
/// sorted for the walk.
struct ContentSplit: Sendable {
    let content: [Int32]
    let rest: SortedTokens

    init(_ tokens: [(id: Int, bytes: [UInt8])], isContent: ([UInt8]) -> Bool) {
        content = tokens.filter { isContent($0.bytes) }.map { Int32($0.id) }
        rest = SortedTokens(tokens.filter { !isContent($0.bytes) })
    }
}

/// The bytes every non-special token of a model spells, for masking by a byte grammar: all of them
/// sorted (`all`), and the same split for JSONGrammar's commonest state, the inside of a string —
/// `stringContent` (tokens that are whole UTF-8 text without a quote or control byte, escapes whole:
/// inside a string each is taken and leaves the state as it was, so the mask adds them without a walk,
/// and the rest to walk); and again for strings written without escapes (`escapeFreeContent`: the same
/// without a backslash). Built once per model folder (`load(folder:vocabSize:)`) where a daemon samples
/// under a grammar.
public final class TokenVocabulary: Sendable {
    let all: SortedTokens
    let stringContent: ContentSplit
    let escapeFreeContent: ContentSplit
    /// [vocab] where each id's bytes are in `all`; −1 for special or empty tokens.
    let position: [Int32]
    /// Longest token in bytes.
    let longest: Int

    /// `tokens`: each id below `vocabSize` with its bytes; empty ones are left out.
    public init(vocabSize: Int, tokens: [(id: Int, bytes: [UInt8])]) {
        let kept = tokens.filter { !$0.bytes.isEmpty && $0.id >= 0 && $0.id < vocabSize }
        all = SortedTokens(kept)
        var position = [Int32](repeating: -1, count: vocabSize)
        for (i, id) in all.ids.enumerated() { position[Int(id)] = Int32(i) }
        self.position = position
        longest = kept.map(\.bytes.count).max() ?? 0
        var inString = JSONGrammar()
        _ = inString.accept(Array(#"{""#.utf8))
        let isContent = { (bytes: [UInt8]) -> Bool in
            var g = inString
            return g.accept(bytes) && g == inString
        }
        stringContent = ContentSplit(kept, isContent: isContent)
        escapeFreeContent = ContentSplit(kept) { !$0.contains(UInt8(ascii: "\\")) && isContent($0) }
    }

    func split(_ kind: StringContent) -> ContentSplit {
        switch kind {
        case .withEscapes: return stringContent
        case .escapeFree: return escapeFreeContent
        }
    }

    /// The tokenizer's non-special tokens below `vocabSize` (the model's, which may be smaller or larger).
    public convenience init(tokenizer: Tokenizer, vocabSize: Int) {
        let tokens = (0..<vocabSize).compactMap { id -> (id: Int, bytes: [UInt8])? in
            guard tokenizer.token(for: id) != nil && !tokenizer.isSpecial(id) else { return nil }
            return (id, tokenizer.bytes(of: id))
        }
        self.init(vocabSize: vocabSize, tokens: tokens)
    }

    public var count: Int { all.count }
    public var vocabSize: Int { position.count }

    /// The bytes of `token`; empty for a special, empty or unknown one.
    public func bytes(of token: Int) -> ArraySlice<UInt8> {
        guard token >= 0 && token < position.count, position[token] >= 0 else { return [] }
        let i = Int(position[token])
        return all.bytes[Int(all.offsets[i])..<Int(all.offsets[i + 1])]
    }

    private static let cache = Cache()

    /// The vocabulary of the tokenizer in `folder` for a model of `vocabSize` ids, loaded once per
    /// process (every request under a grammar shares it).
    public static func load(folder: String, vocabSize: Int) throws -> TokenVocabulary {
        try cache.vocabulary(folder: folder, vocabSize: vocabSize)
    }

    private final class Cache: @unchecked Sendable {
        private let lock = NSLock()
        private var loaded: [String: TokenVocabulary] = [:]

        func vocabulary(folder: String, vocabSize: Int) throws -> TokenVocabulary {
            lock.lock()
            defer { lock.unlock() }
            let key = "\(vocabSize)\u{0}\(folder)"
            if let v = loaded[key] { return v }
            guard Tokenizer.isPresent(inFolder: folder) else { throw StructuredOutputError.noTokenizer(folder: folder) }
            let v = TokenVocabulary(tokenizer: try Tokenizer(folder: URL(fileURLWithPath: folder)), vocabSize: vocabSize)
            loaded[key] = v
            return v
        }
    }
}

public enum StructuredOutputError: Error, CustomStringConvertible, Equatable {
    case noTokenizer(folder: String)

    public var description: String {
        switch self {
        case let .noTokenizer(folder):
            return "structured output needs the model's vocabulary, and \(folder) has no tokenizer (tokenizer.json or a tiktoken vocabulary)"
        }
    }
}
