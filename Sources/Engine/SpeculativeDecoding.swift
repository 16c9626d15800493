import Tokenizer

/// N-gram speculative decoding (vLLM's `--speculative-config '{"method": "ngram", …}'`, prompt
/// lookup decoding): before a decode step, a sequence whose latest tokens occurred earlier in its
/// prompt or output proposes the tokens that followed them there as drafts; the step runs the
/// drafts as extra rows of the sequence (one forward for all) and keeps them while each equals the
/// token the sampler picks from the row before it. The sampler sees exactly the logits and the
/// order it would see one token per step — decode is batch-invariant, so a row's logits do not
/// depend on the rows beside it — so greedy and seeded requests generate the same tokens, log-probs
/// included, with or without speculation; a step streams up to 1 + drafts tokens.
public struct SpeculativeConfig: Sendable, Equatable {
    /// Drafts per sequence and step at most (vLLM's `num_speculative_tokens`).
    public let draftTokens: Int
    /// Shortest and longest suffix looked up (`prompt_lookup_min` / `prompt_lookup_max`).
    public let minNgram: Int
    public let maxNgram: Int

    /// The largest num_speculative_tokens taken. A step adds at most the spare rows of its last weight
    /// pass (7 at batch 1, `ContinuousBatcher`), so more than 7 never drafts more.
    public static let maxDraftTokens = 32

    public init(draftTokens: Int, minNgram: Int, maxNgram: Int) throws(SpeculativeConfigError) {
        guard (1...Self.maxDraftTokens).contains(draftTokens) else {
            throw .invalid("num_speculative_tokens must be in 1...\(Self.maxDraftTokens), got \(draftTokens)")
        }
        guard minNgram >= 1, maxNgram >= 1 else { throw .invalid("prompt_lookup_min and prompt_lookup_max must be ≥ 1, got \(minNgram) and \(maxNgram)") }
        guard minNgram <= maxNgram else { throw .invalid("prompt_lookup_min (\(minNgram)) must be ≤ prompt_lookup_max (\(maxNgram))") }
        self.draftTokens = draftTokens; self.minNgram = minNgram; self.maxNgram = maxNgram
    }

    /// vLLM's JSON: `method` "ngram" (or "[ngram]"), `num_speculative_tokens` (required),
    /// `prompt_lookup_max` / `prompt_lookup_min` (either defaults to the other, both to 5, as vLLM).
    /// Other keys and methods are refused by name rather than ignored.
    public init(json text: String) throws(SpeculativeConfigError) {
        let value: JSONValue
        do { value = try JSONValue.parse(document: Array(text.utf8)) } catch {
            throw .invalid("not JSON: \(error.detail) at byte \(error.offset)")
        }
        guard let pairs = value.objectPairs else { throw .invalid("expected a JSON object") }
        let known = ["method", "num_speculative_tokens", "prompt_lookup_max", "prompt_lookup_min"]
        for (key, _) in pairs where !known.contains(key) {
            throw .invalid("'\(key)' is not supported (keys: \(known.joined(separator: ", ")))")
        }
        guard let method = value["method"]?.string else { throw .invalid("'method' is required (\"ngram\")") }
        guard method == "ngram" || method == "[ngram]" else {
            throw .invalid("method '\(method)' is not supported: only \"ngram\" (prompt lookup) needs no draft model")
        }
        func integer(_ key: String) throws(SpeculativeConfigError) -> Int? {
            guard let v = value[key], !v.isNull else { return nil }
            guard let i = v.int else { throw .invalid("'\(key)' must be an integer") }
            return i
        }
        guard let k = try integer("num_speculative_tokens") else { throw .invalid("'num_speculative_tokens' is required") }
        let lo = try integer("prompt_lookup_min"), hi = try integer("prompt_lookup_max")
        try self.init(draftTokens: k, minNgram: lo ?? hi ?? 5, maxNgram: hi ?? lo ?? 5)
    }
}

public enum SpeculativeConfigError: Error, Equatable, CustomStringConvertible {
    case invalid(String)
    /// What is wrong, without naming where the config came from.
    public var detail: String {
        switch self { case .invalid(let detail): return detail }
    }
    public var description: String { "speculative config: \(detail)" }
}

/// Prompt lookup: the longest suffix of `tokens` of minNgram...maxNgram tokens that occurs earlier
/// in them (the latest occurrence among the longest, as vLLM's NgramProposer), and the tokens that
/// followed it there. One pass from the end; no allocation.
public enum NgramLookup {
    /// Writes up to `limit` drafts into `drafts` and returns how many (0 without a match).
    public static func propose(_ tokens: UnsafeBufferPointer<Int32>, minNgram: Int, maxNgram: Int, limit: Int,
                               into drafts: UnsafeMutablePointer<Int32>) -> Int {
        let n = tokens.count
        guard limit > 0, n >= 2, minNgram >= 1 else { return 0 }
        let last = n - 1
        var best = 0, bestEnd = -1
        var end = last - 1                         // the candidate occurrence's last token
        while end >= 0 {
            var m = 0
            while m < maxNgram && end - m >= 0 && tokens[end - m] == tokens[last - m] { m += 1 }
            if m > best {
                best = m; bestEnd = end
                if m == maxNgram { break }
            }
            end -= 1
        }
        guard best >= minNgram else { return 0 }
        let start = bestEnd + 1
        let count = min(limit, n - start)
        for i in 0..<count { drafts[i] = tokens[start + i] }
        return count
    }
}
