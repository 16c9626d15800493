import Tokenizer

/// Generated ids → the text a client sees, token by token: streaming detokenization (never a split
/// character) followed by stop strings (the text stops right before the first one). The
/// concatenation of every `append` and `finish` equals the completion's text.
public struct TextStream {
    private var detokenizer: IncrementalDetokenizer
    private var stops: StopStringMatcher
    /// The stop string that ended the text, once one did; the caller then ends generation
    /// (finish reason "stop").
    public var stoppedBy: String? { stops.matched }
    /// Stop strings are looked for only in the text of tokens after the first `minTokens` (vLLM's
    /// min_tokens: no stop of any kind before then).
    private let minTokens: Int
    private var tokens = 0

    public init(_ text: ModelText, stopStrings: [String] = [], skipSpecialTokens: Bool = true, minTokens: Int = 0) {
        detokenizer = IncrementalDetokenizer(tokenizer: text.tokenizer, skipSpecialTokens: skipSpecialTokens)
        stops = StopStringMatcher(stopStrings)
        self.minTokens = minTokens
    }

    /// A fresh stream of the same text side without stop strings (e.g. for a reasoning part, which
    /// stop strings do not end).
    public func withoutStopStrings() -> TextStream {
        var copy = self
        copy.detokenizer = IncrementalDetokenizer(tokenizer: detokenizer.tokenizer, skipSpecialTokens: detokenizer.skipSpecialTokens)
        copy.stops = StopStringMatcher([])
        copy.tokens = 0
        return copy
    }

    /// The text `id` releases (possibly empty).
    public mutating func append(_ id: Int) -> String {
        guard stops.matched == nil else { return "" }
        tokens += 1
        let piece = detokenizer.append(id)
        return tokens <= minTokens ? piece : stops.feed(piece)
    }

    /// The rest, at the end of generation.
    public mutating func finish() -> String {
        guard stops.matched == nil else { return "" }
        let tail = stops.feed(detokenizer.finish())
        return tail + stops.finish()
    }
}
