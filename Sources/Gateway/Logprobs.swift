import ChatTemplate
import ModelText
import Wire

/// OpenAI's `logprobs` objects (vLLM's shapes) from the per-token logprobs the decode daemon streams —
/// chat: {"content": [{token, logprob, bytes, top_logprobs: [{token, logprob, bytes}]}]}; completions:
/// {text_offset, token_logprobs, tokens, top_logprobs: [{token: logprob}]}, each top dict holding the
/// `logprobs` most likely tokens and the sampled one (up to logprobs + 1 entries, as OpenAI documents).
/// A token's text is its own decoding (special tokens kept, as vLLM); its bytes are the bytes it stands
/// for (`Tokenizer.bytes(of:)`: a byte-level token's own, so the pieces of a character join up);
/// −inf goes out as −9999.0, as vLLM sends it (JSON has no infinity).
struct LogprobsFormat {
    let text: ModelText
    /// How many most likely tokens each token lists.
    let top: Int

    func chat(_ tokens: [GeneratedToken]) -> Value {
        .obj([("content", .array(tokens.map { t in
            .obj(entry(t.tokenId, t.logprob) + [("top_logprobs", .array(t.topLogprobs.prefix(top).map { .obj(entry($0.tokenId, $0.logprob)) }))])
        }))])
    }

    /// `offset`: characters (code points, Python's len) of the strings of the choice's tokens before these
    /// (0 for a whole response; a stream carries it on, so its offsets are the whole response's). Returns
    /// the offset after them.
    func completion(_ tokens: [GeneratedToken], offset: Int) -> (logprobs: Value, offset: Int) {
        var strings: [Value] = [], logprobs: [Value] = [], tops: [Value] = [], offsets: [Value] = []
        var at = offset
        for t in tokens {
            let s = string(t.tokenId)
            strings.append(.string(s))
            logprobs.append(Self.number(t.logprob))
            offsets.append(.int(at))
            at += s.unicodeScalars.count
            var likely = OrderedDictionary()
            for entry in t.topLogprobs.prefix(top) where likely[string(entry.tokenId)] == nil {
                likely[string(entry.tokenId)] = Self.number(entry.logprob)
            }
            if likely[s] == nil { likely[s] = Self.number(t.logprob) }
            tops.append(.object(likely))
        }
        return (.obj([("text_offset", .array(offsets)), ("token_logprobs", .array(logprobs)), ("tokens", .array(strings)),
                      ("top_logprobs", .array(tops))]), at)
    }

    private func entry(_ id: UInt32, _ logprob: Float) -> [(String, Value)] {
        [("token", .string(string(id))), ("logprob", Self.number(logprob)),
         ("bytes", .array(text.tokenizer.bytes(of: Int(id)).map { .int(Int($0)) }))]
    }

    private func string(_ id: UInt32) -> String { text.decode([Int(id)], skipSpecialTokens: false) }

    static func number(_ logprob: Float) -> Value { .double(Double(max(logprob, -9999))) }
}
