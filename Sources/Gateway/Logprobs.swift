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

    /// `top`: how many most likely tokens each token lists.
    func chat(_ tokens: [GeneratedToken], top: Int) -> Value {
        .obj([("content", .array(tokens.map { t in
            .obj(entry(t.tokenId, t.logprob) + [("top_logprobs", .array(t.topLogprobs.prefix(top).map { .obj(entry($0.tokenId, $0.logprob)) }))])
        }))])
    }

    /// `offset`: characters (code points, Python's len) of the strings of the choice's tokens before these
    /// (0 for a whole response; a stream carries it on, so its offsets are the whole response's). Returns
    /// the offset after them. `prompt` (echo with logprobs): the prompt's tokens lead, the first with
    /// null logprob and top_logprobs, as vLLM sends them.
    func completion(_ tokens: [GeneratedToken], top: Int, offset: Int, prompt: (ids: [Int], logprobs: [PromptTokenLogprobs])? = nil)
        -> (logprobs: Value, offset: Int) {
        var strings: [Value] = [], logprobs: [Value] = [], tops: [Value] = [], offsets: [Value] = []
        var at = offset
        var all = tokens
        if let prompt, let first = prompt.ids.first {
            let s = string(UInt32(first))
            strings.append(.string(s)); logprobs.append(.none); tops.append(.none); offsets.append(.int(at))
            at += s.unicodeScalars.count
            all = zip(prompt.ids.dropFirst(), prompt.logprobs).map {
                GeneratedToken(tokenId: UInt32($0), logprob: $1.logprob, topLogprobs: $1.topLogprobs)
            } + tokens
        }
        for t in all {
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

    /// vLLM's `prompt_logprobs`: null for the first token, then per prompt token a dict by token id of
    /// {logprob, rank, decoded_token} holding the token itself and the `top` most likely (ranks 1...k).
    func prompt(ids: [Int], _ entries: [PromptTokenLogprobs], top: Int) -> Value {
        guard !ids.isEmpty else { return .array([]) }
        return .array([.none] + zip(ids.dropFirst(), entries).map { id, entry in
            var dict = OrderedDictionary()
            func put(_ token: UInt32, _ logprob: Float, _ rank: Int) {
                guard dict[String(token)] == nil else { return }
                dict[String(token)] = .obj([("logprob", Self.number(logprob)), ("rank", .int(rank)), ("decoded_token", .string(string(token)))])
            }
            put(UInt32(id), entry.logprob, Int(entry.rank))
            for (k, t) in entry.topLogprobs.prefix(top).enumerated() { put(t.tokenId, t.logprob, k + 1) }
            return .object(dict)
        })
    }

    private func entry(_ id: UInt32, _ logprob: Float) -> [(String, Value)] {
        [("token", .string(string(id))), ("logprob", Self.number(logprob)),
         ("bytes", .array(text.tokenizer.bytes(of: Int(id)).map { .int(Int($0)) }))]
    }

    private func string(_ id: UInt32) -> String { text.decode([Int(id)], skipSpecialTokens: false) }

    static func number(_ logprob: Float) -> Value { .double(Double(max(logprob, -9999))) }
}
