/// Streaming detokenization: feed ids one at a time, get the text they complete. Text is held back while
/// it ends in U+FFFD (a UTF-8 character or byte-level sequence still incomplete), so no character is
/// ever split; the concatenation of all pieces plus `finish()` equals `decode(all ids)`.
///
/// Like vLLM's detokenizer it decodes a short window: ids[prefixOffset...] against
/// ids[prefixOffset..<readOffset], so the decoder sees the same left context for the old and new text.
public struct IncrementalDetokenizer {
    public let tokenizer: Tokenizer
    public let skipSpecialTokens: Bool
    public private(set) var ids: [Int] = []
    private var prefixOffset = 0
    private var readOffset = 0

    public init(tokenizer: Tokenizer, skipSpecialTokens: Bool = true) {
        self.tokenizer = tokenizer
        self.skipSpecialTokens = skipSpecialTokens
    }

    /// Text completed by `id` (possibly empty).
    public mutating func append(_ id: Int) -> String {
        ids.append(id)
        let prefix = tokenizer.decode(Array(ids[prefixOffset..<readOffset]), skipSpecialTokens: skipSpecialTokens)
        let full = tokenizer.decode(Array(ids[prefixOffset...]), skipSpecialTokens: skipSpecialTokens)
        let prefixScalars = prefix.unicodeScalars.count
        let fullScalars = Array(full.unicodeScalars)
        guard fullScalars.count > prefixScalars, fullScalars.last != "\u{FFFD}",
              fullScalars[..<prefixScalars].elementsEqual(prefix.unicodeScalars) else { return "" }
        prefixOffset = readOffset
        readOffset = ids.count
        var out = String.UnicodeScalarView()
        out.append(contentsOf: fullScalars[prefixScalars...])
        return String(out)
    }

    /// Whatever is still held back (e.g. a genuinely invalid byte sequence at the end).
    public mutating func finish() -> String {
        let prefix = tokenizer.decode(Array(ids[prefixOffset..<readOffset]), skipSpecialTokens: skipSpecialTokens)
        let full = tokenizer.decode(Array(ids[prefixOffset...]), skipSpecialTokens: skipSpecialTokens)
        prefixOffset = ids.count
        readOffset = ids.count
        var out = String.UnicodeScalarView()
        out.append(contentsOf: full.unicodeScalars.dropFirst(prefix.unicodeScalars.count))
        return String(out)
    }
}
