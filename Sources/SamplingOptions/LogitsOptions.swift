import ArgumentParser
import Basics
import Engine
import Foundation

/// The logits processors and the logprobs a request asks for, as the OpenAI / vLLM fields of the same
/// names (pd-run and pd-client: `@OptionGroup var processors: LogitsOptions`).
public struct LogitsOptions: ParsableArguments {
    public init() {}

    @Option(help: "Presence penalty in [-2, 2] (0 = off): subtracted from the logit of every token generated so far.")
    public var presencePenalty: Float = 0

    @Option(help: "Frequency penalty in [-2, 2] (0 = off): subtracted once per occurrence among the generated tokens.")
    public var frequencyPenalty: Float = 0

    @Option(help: "Repetition penalty > 0 (1 = off): logits of prompt and generated tokens divided by it when positive, multiplied otherwise.")
    public var repetitionPenalty: Float = 1

    @Option(help: "EOS and the stop ids cannot be sampled before this many tokens.")
    public var minTokens: Int = 0

    @Option(help: "Logit biases, comma-separated ID:BIAS pairs (e.g. 13:-100,42:2.5).")
    public var logitBias: String?

    @Option(help: "Only these token ids can be sampled, comma-separated (vLLM's allowed_token_ids).")
    public var allowedTokenIds: String?

    @Option(help: "Bad words as token-id sequences, ';' between words, ',' between ids (e.g. 13,7;42): a word's last token cannot follow the rest.")
    public var badWordsIds: String?

    @Flag(help: "Structured output: the completion is one JSON object, then EOS (OpenAI's response_format json_object; needs the model folder's tokenizer where it is sampled).")
    public var jsonObject = false

    @Option(help: "Structured output: the completion is one value of this JSON Schema, then EOS (a file, or the JSON text itself; OpenAI's response_format json_schema).")
    public var jsonSchema: String?

    @Option(help: "Structured output: the completion is one whole match of this regular expression (Python re syntax), then EOS (vLLM's structured_outputs regex).")
    public var regex: String?

    @Option(help: "Structured output: the completion is one whole match of this GBNF grammar (llama.cpp's format, `root` starts), then EOS (llama.cpp's --grammar, vLLM's structured_outputs grammar).")
    public var grammar: String?

    @Option(help: "As --grammar, the grammar read from this file (llama.cpp's --grammar-file).")
    public var grammarFile: String?

    @Flag(help: "With --json-object or --json-schema: the JSON is written without whitespace between its tokens (vLLM's structured_outputs disable_any_whitespace).")
    public var disableAnyWhitespace = false

    @Option(help: "Report this many most likely tokens (0...20) with each generated token.")
    public var topLogprobs: Int = 0

    @Option(help: "Report each prompt token's logprob (after the first) and this many most likely tokens (0...20) at its position (vLLM's prompt_logprobs).")
    public var promptLogprobs: Int?

    public func apply(to params: inout SamplingParams) throws {
        params.presencePenalty = presencePenalty
        params.frequencyPenalty = frequencyPenalty
        params.repetitionPenalty = repetitionPenalty
        params.minTokens = minTokens
        params.topLogprobs = topLogprobs
        params.promptLogprobs = promptLogprobs
        params.jsonObject = jsonObject
        if let jsonSchema {
            // A file's text when one is there, else the option's own text.
            params.jsonSchema = FileManager.default.contents(atPath: jsonSchema).map { String(decoding: $0, as: UTF8.self) } ?? jsonSchema
        }
        params.regex = regex
        if grammar != nil && grammarFile != nil { throw ValidationError("--grammar and --grammar-file: give one") }
        if let grammarFile {
            guard let data = FileManager.default.contents(atPath: grammarFile) else {
                throw ValidationError("--grammar-file: cannot read \(grammarFile)")
            }
            params.grammar = String(decoding: data, as: UTF8.self)
        } else {
            params.grammar = grammar
        }
        params.disableAnyWhitespace = disableAnyWhitespace
        params.allowedTokenIDs = try ids(allowedTokenIds ?? "", option: "--allowed-token-ids")
        params.badWords = try (badWordsIds ?? "").split(separator: ";").map { try ids(String($0), option: "--bad-words-ids") }
        params.logitBias = try (logitBias ?? "").split(separator: ",").map { pair in
            let parts = pair.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count == 2, let token = Int(parts[0]), let bias = Float(parts[1]) else {
                throw ValidationError("--logit-bias: expected ID:BIAS pairs, got \"\(pair)\"")
            }
            return TokenBias(token: token, bias: bias)
        }
    }

    /// Comma-separated token ids (CommaList, the one parser of such options), a bad one a usage error.
    private func ids(_ list: String, option: String) throws -> [Int] {
        do { return try CommaList.integers(list, option: option, atLeast: 0, expected: "a token id") } catch let error as CommaListError {
            throw ValidationError(error.description)
        }
    }
}
