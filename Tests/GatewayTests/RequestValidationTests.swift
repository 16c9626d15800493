import Basics
import DeepSeekModel
import Foundation
@testable import Gateway
import XCTest

/// Request parsing and validation on the built-in tiny folder (vocabulary 512, context 4096),
/// against OpenAI's documented API: defaults (max_tokens 16 for completions, temperature 1,
/// top_p 1) and refusals as `{"error": {"message", "type", "param", "code"}}` naming the field.
final class RequestValidationTests: XCTestCase {
    private static let served = Result { try ServedModel(model: try BuiltinModel.resolve("tiny"), servedName: "tiny") }

    private func parse(_ body: String, _ kind: GenerationRequest.Kind = .completion) throws -> GenerationRequest {
        try GenerationRequest(body: body, kind: kind, model: try Self.served.get())
    }

    /// The refusal's OpenAI error object, read back with Foundation's JSON parser.
    private func refusal(_ body: String, _ kind: GenerationRequest.Kind = .completion,
                         file: StaticString = #filePath, line: UInt = #line) -> (status: Int, error: [String: Any])? {
        do {
            _ = try parse(body, kind)
            XCTFail("accepted: \(body)", file: file, line: line)
            return nil
        } catch let error as APIError {
            let json = try! JSONSerialization.jsonObject(with: Data(error.body.compactJSON.utf8)) as! [String: Any]
            return (error.status, json["error"] as! [String: Any])
        } catch {
            XCTFail("\(body): not an APIError: \(error)", file: file, line: line)
            return nil
        }
    }

    /// A body nested a million levels deep (a stack overflow for the recursive JSON reader, which had
    /// no depth limit) is a 400 like any other malformed body.
    func testDeeplyNestedBodyIsRefused() {
        let deep = String(repeating: "[", count: 1_000_000) + String(repeating: "]", count: 1_000_000)
        XCTAssertEqual(refusal(#"{"model": "tiny", "prompt": "# + deep + "}")?.status, 400)
    }

    /// scripts/fuzz (fuzz-gateway-request): a high surrogate escape followed by another escape that is
    /// not a low surrogate overflowed the join. Each stands alone (U+FFFD, as Python's json keeps a
    /// lone surrogate); an escape JSON does not define is a 400 as in Python's json.
    func testSurrogateEscapesAndBadEscapes() throws {
        let lone = try parse(#"{"model": "tiny", "prompt": "a\udaaa\udaaab\ud83d\ude00"}"#)
        let expected = try parse(#"{"model": "tiny", "prompt": "a\ufffd\ufffdb😀"}"#)
        XCTAssertEqual(lone.prompts, expected.prompts)
        XCTAssertEqual(refusal(#"{"model": "tiny", "prompt": "a\qb"}"#)?.status, 400)
        XCTAssertEqual(refusal(#"{"model": "tiny", "prompt": "a\ud800\uzzzz"}"#)?.status, 400)
    }

    /// vLLM's cache_salt reaches the decode request; without it the salt is "".
    func testCacheSalt() throws {
        XCTAssertEqual(try parse(#"{"model": "tiny", "prompt": "x", "cache_salt": "tenant-a"}"#).cacheSalt, "tenant-a")
        XCTAssertEqual(try parse(#"{"model": "tiny", "messages": [{"role": "user", "content": "x"}], "cache_salt": "b"}"#, .chat).cacheSalt, "b")
        XCTAssertEqual(try parse(#"{"model": "tiny", "prompt": "x"}"#).cacheSalt, "")
    }

    /// vLLM's priority reaches the decode request as an Int32; without it 0.
    func testPriority() throws {
        XCTAssertEqual(try parse(#"{"model": "tiny", "prompt": "x", "priority": -3}"#).priority, -3)
        XCTAssertEqual(try parse(#"{"model": "tiny", "messages": [{"role": "user", "content": "x"}], "priority": 10}"#, .chat).priority, 10)
        XCTAssertEqual(try parse(#"{"model": "tiny", "prompt": "x"}"#).priority, 0)
    }

    func testEachRefusalNamesItsParameterInOpenAIsErrorObject() throws {
        let completions: [(String, String)] = [
            (#"{"model": "tiny", "prompt": "x", "priority": 1.5}"#, "priority"),
            (#"{"model": "tiny", "prompt": "x", "priority": "high"}"#, "priority"),
            (#"{"model": "tiny", "prompt": "x", "priority": 4294967296}"#, "priority"),
            (#"{"model": "tiny", "prompt": "x", "n": 0}"#, "n"),
            (#"{"model": "tiny", "prompt": "x", "cache_salt": ""}"#, "cache_salt"),
            (#"{"model": "tiny", "prompt": "x", "cache_salt": 7}"#, "cache_salt"),
            (#"{"model": "tiny", "prompt": "x", "cache_salt": "\#(String(repeating: "s", count: 257))"}"#, "cache_salt"),
            (#"{"model": "tiny", "prompt": "x", "n": 129}"#, "n"),
            (#"{"model": "tiny", "prompt": "x", "best_of": 3}"#, "best_of"),
            (#"{"model": "tiny", "prompt": "x", "n": 2, "best_of": 3}"#, "best_of"),
            (#"{"model": "tiny", "prompt": "x", "prompt_logprobs": 21}"#, "prompt_logprobs"),
            (#"{"model": "tiny", "prompt": "x", "prompt_logprobs": 1, "stream": true}"#, "prompt_logprobs"),
            (#"{"model": "tiny", "prompt": "x", "logprobs": 21}"#, "logprobs"),
            (#"{"model": "tiny", "prompt": "x", "logprobs": -1}"#, "logprobs"),
            (#"{"model": "tiny", "prompt": "x", "logprobs": true}"#, "logprobs"),
            (#"{"model": "tiny", "prompt": "x", "top_logprobs": 2}"#, "top_logprobs"),
            (#"{"model": "tiny", "prompt": "x", "presence_penalty": 2.5}"#, "presence_penalty"),
            (#"{"model": "tiny", "prompt": "x", "frequency_penalty": -3}"#, "frequency_penalty"),
            (#"{"model": "tiny", "prompt": "x", "repetition_penalty": 0}"#, "repetition_penalty"),
            (#"{"model": "tiny", "prompt": "x", "min_tokens": -1}"#, "min_tokens"),
            (#"{"model": "tiny", "prompt": "x", "min_tokens": 17}"#, "min_tokens"),
            (#"{"model": "tiny", "prompt": "x", "logit_bias": {"512": 1}}"#, "logit_bias"),
            (#"{"model": "tiny", "prompt": "x", "logit_bias": {"a": 1}}"#, "logit_bias"),
            (#"{"model": "tiny", "prompt": "x", "logit_bias": {"5": "high"}}"#, "logit_bias"),
            (#"{"model": "tiny", "prompt": "x", "logit_bias": {"5": 1, "05": 2}}"#, "logit_bias"),
            (#"{"model": "tiny", "prompt": "x", "logit_bias": [5]}"#, "logit_bias"),
            (#"{"prompt": "x"}"#, "model"),
            (#"{"model": "tiny"}"#, "prompt"),
            (#"{"model": "tiny", "prompt": ""}"#, "prompt"),
            (#"{"model": "tiny", "prompt": []}"#, "prompt"),
            (#"{"model": "tiny", "prompt": [512]}"#, "prompt"),
            (#"{"model": "tiny", "prompt": [-1]}"#, "prompt"),
            (#"{"model": "tiny", "prompt": ["a", 5]}"#, "prompt"),
            (#"{"model": "tiny", "prompt": "x", "max_tokens": 0}"#, "max_tokens"),
            (#"{"model": "tiny", "prompt": [5], "max_tokens": 4096}"#, "max_tokens"),
            (#"{"model": "tiny", "prompt": "x", "temperature": -0.5}"#, "temperature"),
            (#"{"model": "tiny", "prompt": "x", "top_p": 0}"#, "top_p"),
            (#"{"model": "tiny", "prompt": "x", "top_p": 1.5}"#, "top_p"),
            (#"{"model": "tiny", "prompt": "x", "min_p": 1.5}"#, "min_p"),
            (#"{"model": "tiny", "prompt": "x", "truncate_prompt_tokens": 0}"#, "truncate_prompt_tokens"),
            (#"{"model": "tiny", "prompt": "x", "truncate_prompt_tokens": -2}"#, "truncate_prompt_tokens"),
            (#"{"model": "tiny", "prompt": "x", "truncate_prompt_tokens": 4097}"#, "truncate_prompt_tokens"),
            (#"{"model": "tiny", "prompt": "x", "add_special_tokens": "no"}"#, "add_special_tokens"),
            (#"{"model": "tiny", "prompt": "x", "min_p": -0.1}"#, "min_p"),
            (#"{"model": "tiny", "prompt": "x", "allowed_token_ids": []}"#, "allowed_token_ids"),
            (#"{"model": "tiny", "prompt": "x", "allowed_token_ids": [512]}"#, "allowed_token_ids"),
            (#"{"model": "tiny", "prompt": "x", "bad_words": "no"}"#, "bad_words"),
            (#"{"model": "tiny", "prompt": "x", "bad_words": [5]}"#, "bad_words"),
            (#"{"model": "tiny", "prompt": "x", "bad_words": ["  "]}"#, "bad_words"),
            (#"{"model": "tiny", "prompt": "x", "structured_outputs": {"json": false}}"#, "structured_outputs.json"),
            (#"{"model": "tiny", "prompt": "x", "structured_outputs": {"json": {"type": "integer"}}, "ignore_eos": true}"#, "structured_outputs.json"),
            (#"{"model": "tiny", "prompt": "x", "structured_outputs": {"choice": "a"}}"#, "structured_outputs.choice"),
            (#"{"model": "tiny", "prompt": "x", "structured_outputs": {"choice": ["a", ""]}}"#, "structured_outputs.choice"),
            (#"{"model": "tiny", "prompt": "x", "guided_choice": ["a"], "ignore_eos": true}"#, "guided_choice"),
            (#"{"model": "tiny", "prompt": "x", "guided_choice": ["a"], "structured_outputs": {"choice": ["b"]}}"#, "structured_outputs.choice"),
            (#"{"model": "tiny", "prompt": "x", "response_format": {"type": "json_schema", "json_schema": {}}}"#, "response_format"),
            (#"{"model": "tiny", "prompt": "x", "response_format": {"type": "json_schema", "json_schema": {"schema": {"type": "string", "format": "uri-reference"}}}}"#, "response_format"),
            (#"{"model": "tiny", "prompt": "x", "response_format": {"type": "json_schema", "json_schema": {"schema": {"type": "string", "pattern": "(a"}}}}"#, "response_format"),
            (#"{"model": "tiny", "prompt": "x", "guided_json": {"type": "array", "items": {"type": "integer"}, "uniqueItems": true}}"#, "guided_json"),
            (#"{"model": "tiny", "prompt": "x", "structured_outputs": {"json": 5}}"#, "structured_outputs.json"),
            (#"{"model": "tiny", "prompt": "x", "structured_outputs": {"regex": "a(?=b)"}}"#, "structured_outputs.regex"),
            (#"{"model": "tiny", "prompt": "x", "structured_outputs": {"regex": ""}}"#, "structured_outputs.regex"),
            (#"{"model": "tiny", "prompt": "x", "structured_outputs": {"regex": 5}}"#, "structured_outputs.regex"),
            (#"{"model": "tiny", "prompt": "x", "guided_regex": "a**"}"#, "guided_regex"),
            (#"{"model": "tiny", "prompt": "x", "guided_regex": "a+", "structured_outputs": {"disable_any_whitespace": true}}"#, "structured_outputs.disable_any_whitespace"),
            (#"{"model": "tiny", "prompt": "x", "structured_outputs": {"disable_any_whitespace": true}}"#, "structured_outputs.disable_any_whitespace"),
            (#"{"model": "tiny", "prompt": "x", "structured_outputs": {"json_object": true, "disable_any_whitespace": 1}}"#, "structured_outputs.disable_any_whitespace"),
            (#"{"model": "tiny", "prompt": "x", "guided_regex": "a+", "guided_choice": ["a"]}"#, "guided_regex"),
            (#"{"model": "tiny", "prompt": "x", "structured_outputs": {"regex": "a+"}, "ignore_eos": true}"#, "structured_outputs.regex"),
            (#"{"model": "tiny", "prompt": "x", "structured_outputs": {"grammar": "root ::= item"}}"#, "structured_outputs.grammar"),
            (#"{"model": "tiny", "prompt": "x", "structured_outputs": {"grammar": 5}}"#, "structured_outputs.grammar"),
            (#"{"model": "tiny", "prompt": "x", "guided_grammar": "root ::= root \"a\""}"#, "guided_grammar"),
            (#"{"model": "tiny", "prompt": "x", "grammar": ""}"#, "grammar"),
            (#"{"model": "tiny", "prompt": "x", "grammar": "root ::= \"a\"", "guided_regex": "a"}"#, "grammar"),
            (#"{"model": "tiny", "prompt": "x", "grammar": "root ::= \"a\"", "structured_outputs": {"disable_any_whitespace": true}}"#, "structured_outputs.disable_any_whitespace"),
            (#"{"model": "tiny", "prompt": "x", "response_format": {"type": "json_object"}, "guided_choice": ["a"]}"#, "guided_choice"),
            (#"{"model": "tiny", "prompt": "x", "response_format": {"type": "json_object"}, "structured_outputs": {"json_object": true}}"#, "structured_outputs.json_object"),
            (#"{"model": "tiny", "prompt": "x", "response_format": {"type": "json_object"}, "min_tokens": 3}"#, "response_format"),
            (#"{"model": "tiny", "prompt": "x", "structured_outputs": {"json_object": true, "choice": ["a"]}}"#, "structured_outputs.choice"),
            (#"{"model": "tiny", "prompt": "x", "structured_outputs": {"json_object": true}, "ignore_eos": true}"#, "structured_outputs.json_object"),
            (#"{"model": "tiny", "prompt": "x", "top_k": -2}"#, "top_k"),
            (#"{"model": "tiny", "prompt": "x", "seed": -1}"#, "seed"),
            (#"{"model": "tiny", "prompt": "x", "stop": 5}"#, "stop"),
            (#"{"model": "tiny", "prompt": "x", "stop": [""]}"#, "stop"),
            (#"{"model": "tiny", "prompt": "x", "stop_token_ids": [9999]}"#, "stop_token_ids"),
            (#"{"model": "tiny", "prompt": "x", "stream_options": {"include_usage": true}}"#, "stream_options"),
            (#"{"model": "tiny", "prompt": "x", "stream": "yes"}"#, "stream"),
            (#"{"model": "tiny", "prompt": "x", "bogus_field": 1}"#, "bogus_field"),
            (#"{"model": "tiny", "messages": [{"role": "user", "content": "x"}]}"#, "messages"),
        ]
        for (body, param) in completions {
            guard let (status, error) = refusal(body) else { continue }
            XCTAssertEqual(status, 400, body)
            XCTAssertEqual(error["param"] as? String, param, body)
            XCTAssertEqual(error["type"] as? String, "invalid_request_error", body)
            XCTAssertEqual(error["code"] as? Int, 400, body)
            XCTAssertFalse((error["message"] as? String ?? "").isEmpty, body)
        }
        let longPrompt = "[" + Array(repeating: "5", count: 4096).joined(separator: ",") + "]"
        XCTAssertEqual(refusal(#"{"model": "tiny", "prompt": \#(longPrompt)}"#)?.error["param"] as? String, "prompt",
                       "a prompt that fills the context leaves no room to generate")

        let chats: [(String, String)] = [
            (#"{"model": "tiny", "messages": []}"#, "messages"),
            (#"{"model": "tiny", "messages": [{"content": "x"}]}"#, "messages[0]"),
            (#"{"model": "tiny", "messages": [{"role": "user", "content": "x"}], "logprobs": 2}"#, "logprobs"),
            (#"{"model": "tiny", "messages": [{"role": "user", "content": "x"}], "top_logprobs": 2}"#, "top_logprobs"),
            (#"{"model": "tiny", "messages": [{"role": "user", "content": "x"}], "logprobs": true, "top_logprobs": 21}"#, "top_logprobs"),
            (#"{"model": "tiny", "messages": [{"role": "user", "content": "x"}], "max_completion_tokens": 3, "min_tokens": 4}"#, "min_tokens"),
            (#"{"model": "tiny", "messages": [{"role": "user", "content": "x"}], "tools": [{"type": "function"}]}"#, "tools"),
            (#"{"model": "tiny", "messages": [{"role": "user", "content": "x"}], "max_completion_tokens": 0}"#, "max_completion_tokens"),
            (#"{"model": "tiny", "messages": [{"role": "user", "content": "x"}], "continue_final_message": true}"#, "continue_final_message"),
            (#"{"model": "tiny", "messages": [{"role": "user", "content": "x"}], "chat_template_kwargs": {"continue_final_message": true}}"#,
             "chat_template_kwargs"),
            (#"{"model": "tiny", "messages": [{"role": "user", "content": [{"type": "image_url"}]}]}"#, "messages[0].content"),
            (#"{"model": "tiny", "prompt": "x"}"#, "prompt"),
            // OpenAI's output options that would change the reply, and the ignored ones of the wrong type.
            (#"{"model": "tiny", "messages": [{"role": "user", "content": "x"}], "audio": {"voice": "alloy", "format": "wav"}}"#, "audio"),
            (#"{"model": "tiny", "messages": [{"role": "user", "content": "x"}], "modalities": ["text", "audio"]}"#, "modalities"),
            (#"{"model": "tiny", "messages": [{"role": "user", "content": "x"}], "web_search_options": {}}"#, "web_search_options"),
            (#"{"model": "tiny", "messages": [{"role": "user", "content": "x"}], "store": "yes"}"#, "store"),
            (#"{"model": "tiny", "messages": [{"role": "user", "content": "x"}], "metadata": {"a": 1}}"#, "metadata"),
            (#"{"model": "tiny", "messages": [{"role": "user", "content": "x"}], "service_tier": 2}"#, "service_tier"),
            (#"{"model": "tiny", "messages": [{"role": "user", "content": "x"}], "prediction": "text"}"#, "prediction"),
            (#"{"model": "tiny", "messages": [{"role": "user", "content": "x"}], "max_token": 3}"#, "max_token"),
        ]
        for (body, param) in chats {
            guard let (status, error) = refusal(body, .chat) else { continue }
            XCTAssertEqual(status, 400, body)
            XCTAssertEqual(error["param"] as? String, param, body)
        }
        XCTAssertEqual(refusal(#"{"model": "tiny", "prompt": "x", "store": false}"#)?.error["param"] as? String, "store",
                       "OpenAI's completions take no store")
    }

    /// Every parameter OpenAI's chat completions take is known: the ones that leave the reply unchanged here
    /// (storage, tiers, caching hints, ids, predicted outputs, effort hints) are accepted and change nothing.
    func testOpenAIChatParametersWithoutEffectAreAccepted() throws {
        let plain = try parse(#"{"model": "tiny", "messages": [{"role": "user", "content": "x"}]}"#, .chat)
        let body = #"{"model": "tiny", "messages": [{"role": "user", "content": "x"}], "store": false, "metadata": {"team": "a"}, "#
            + #""service_tier": "auto", "prompt_cache_key": "k", "prompt_cache_retention": "24h", "prompt_cache_options": {"ttl": "30m"}, "#
            + #""safety_identifier": "u1", "reasoning_effort": "low", "verbosity": "low", "modalities": ["text"], "#
            + #""prediction": {"type": "content", "content": "x"}, "audio": null, "web_search_options": null, "moderation": null}"#
        let request = try parse(body, .chat)
        XCTAssertEqual(request.prompts, plain.prompts)
        XCTAssertEqual(request.sampling, plain.sampling)
        XCTAssertEqual(request.maxTokens, plain.maxTokens)
    }

    func testUnknownModelIs404AndBadJSONIs400() throws {
        let unknown = refusal(#"{"model": "gpt-4", "prompt": "x"}"#)
        XCTAssertEqual(unknown?.status, 404)
        XCTAssertEqual(unknown?.error["param"] as? String, "model")
        for body in ["{not json", "[1, 2]", ""] {
            let bad = refusal(body)
            XCTAssertEqual(bad?.status, 400, body)
            XCTAssertEqual(bad?.error["type"] as? String, "invalid_request_error", body)
            XCTAssertTrue(bad?.error.keys.contains("param") ?? false, "param is present (null) in OpenAI's error object")
        }
    }

    func testDefaultsAndAcceptedShapes() throws {
        // OpenAI's completions defaults: max_tokens 16, temperature 1, top_p 1; no stream, no usage chunk.
        let ids = try parse(#"{"model": "tiny", "prompt": [5, 77, 300]}"#)
        XCTAssertEqual(ids.prompts, [[5, 77, 300]])
        XCTAssertEqual(ids.maxTokens, [16])
        XCTAssertEqual(ids.sampling.temperature, 1)
        XCTAssertEqual(ids.sampling.topP, 1)
        XCTAssertEqual(ids.sampling.topK, 0)
        XCTAssertFalse(ids.sampling.ignoreEos)
        XCTAssertFalse(ids.stream)
        XCTAssertFalse(ids.includeUsage)
        XCTAssertEqual(ids.stop, [])

        // A list of token-id lists: one choice each; stop as one string or a list; vLLM's top_k -1 = off.
        let many = try parse(#"{"model": "tiny", "prompt": [[1, 2], [3]], "max_tokens": 7, "stop": "ab", "top_k": -1, "temperature": 0, "seed": 9, "stop_token_ids": [4], "ignore_eos": true}"#)
        XCTAssertEqual(many.prompts, [[1, 2], [3]])
        XCTAssertEqual(many.maxTokens, [7, 7])
        XCTAssertEqual(many.stop, ["ab"])
        XCTAssertEqual(many.sampling.topK, 0)
        XCTAssertEqual(many.sampling.temperature, 0)
        XCTAssertEqual(many.sampling.seed, 9)
        XCTAssertTrue(many.sampling.seedGiven)
        XCTAssertFalse(ids.sampling.seedGiven, "no seed: the decode daemon picks one")
        XCTAssertTrue(try parse(#"{"model": "tiny", "prompt": [3], "seed": 0}"#).sampling.seedGiven, "seed 0 is a seed (vLLM)")
        XCTAssertEqual(many.sampling.stopTokenIds, [4])
        XCTAssertTrue(many.sampling.ignoreEos)
        XCTAssertEqual(try parse(#"{"model": "tiny", "prompt": [3], "stop": ["a", "b"]}"#).stop, ["a", "b"])
        XCTAssertFalse(ids.includeStopString || !ids.skipSpecialTokens, "vLLM's defaults")
        let text = try parse(#"{"model": "tiny", "prompt": [3], "include_stop_str_in_output": true, "skip_special_tokens": false}"#)
        XCTAssertTrue(text.includeStopString && !text.skipSpecialTokens)

        // Neutral values of unsupported parameters are accepted (empty tools, null logprobs).
        XCTAssertNoThrow(try parse(#"{"model": "tiny", "prompt": [3], "n": 1, "best_of": 1, "tools": [], "echo": false, "logprobs": null}"#))
        // n choices per prompt (vLLM's index: prompt × n + sample); echo the prompt strings.
        let choices = try parse(#"{"model": "tiny", "prompt": ["ab", "cd"], "n": 3, "best_of": 3, "echo": true}"#)
        XCTAssertEqual(choices.n, 3)
        XCTAssertEqual(choices.choiceCount, 6)
        XCTAssertTrue(choices.echo)
        XCTAssertEqual(choices.echoTexts, ["ab", "cd"])
        XCTAssertEqual(try parse(#"{"model": "tiny", "prompt": [[1], [2]]}"#).echoTexts, ["", ""], "no echo")
        // The prompt's logprobs: for prompt_logprobs and for echo with logprobs, the larger k of the two.
        let echoed = try parse(#"{"model": "tiny", "prompt": "ab", "echo": true, "logprobs": 3, "prompt_logprobs": 1}"#)
        XCTAssertTrue(echoed.echoesLogprobs && echoed.sampling.promptLogprobs)
        XCTAssertEqual(echoed.sampling.promptTopLogprobs, 3)
        XCTAssertFalse(try parse(#"{"model": "tiny", "prompt": "ab", "echo": true}"#).sampling.promptLogprobs)
        XCTAssertEqual(try parse(#"{"model": "tiny", "prompt": "ab", "prompt_logprobs": 0}"#).sampling.promptLogprobs, true)
        // Echo alone (vLLM's echo with max_tokens 0, lm-evaluation-harness's scoring): allowed with echo only.
        let scored = try parse(#"{"model": "tiny", "prompt": ["ab", "cd"], "echo": true, "logprobs": 1, "max_tokens": 0}"#)
        XCTAssertTrue(scored.echoesOnly && scored.echoesLogprobs)
        XCTAssertEqual(scored.maxTokens, [0, 0])
        XCTAssertFalse(echoed.echoesOnly, "echo with the default max_tokens generates")
        XCTAssertEqual(refusal(#"{"model": "tiny", "prompt": "ab", "echo": true, "max_tokens": -1}"#)?.error["param"] as? String, "max_tokens")
        XCTAssertEqual(refusal(#"{"model": "tiny", "prompt": "ab", "echo": true, "max_tokens": 0, "min_tokens": 1}"#)?.error["param"] as? String,
                       "min_tokens")

        // The logits processors and logprobs reach the decode daemon's sampling fields; logit_bias
        // clamped to [-100, 100] as OpenAI and vLLM do.
        let processed = try parse(#"{"model": "tiny", "prompt": [3], "max_tokens": 9, "presence_penalty": -0.5, "frequency_penalty": 2, "repetition_penalty": 1.2, "min_tokens": 9, "logit_bias": {"7": 150, "8": -2.5}, "logprobs": 3}"#)
        XCTAssertEqual(processed.sampling.presencePenalty, -0.5)
        XCTAssertEqual(processed.sampling.frequencyPenalty, 2)
        XCTAssertEqual(processed.sampling.repetitionPenalty, 1.2)
        XCTAssertEqual(try parse(#"{"model": "tiny", "prompt": [3], "min_p": 0.05}"#).sampling.minP, 0.05)
        XCTAssertEqual(try parse(#"{"model": "tiny", "prompt": [3], "allowed_token_ids": [7, 3]}"#).sampling.allowedTokenIds, [7, 3])
        let choice = try parse(#"{"model": "tiny", "prompt": [3], "structured_outputs": {"choice": ["yes", "no"]}}"#).sampling.choice
        XCTAssertEqual(choice?.accepting.count, 2)
        XCTAssertEqual(try parse(#"{"model": "tiny", "prompt": [3], "guided_choice": ["yes", "no"]}"#).sampling.choice, choice)
        // JSON mode: response_format json_object and vLLM's structured_outputs json_object alike.
        XCTAssertTrue(try parse(#"{"model": "tiny", "prompt": [3], "response_format": {"type": "json_object"}}"#).sampling.jsonObject)
        XCTAssertTrue(try parse(#"{"model": "tiny", "prompt": [3], "structured_outputs": {"json_object": true}}"#).sampling.jsonObject)
        XCTAssertFalse(try parse(#"{"model": "tiny", "prompt": [3], "response_format": {"type": "text"}}"#).sampling.jsonObject)
        // A JSON Schema travels as compact JSON text, key order kept (properties are written in it).
        let schema = #"{"type":"object","properties":{"b":{"type":"integer"},"a":{"enum":["x","y"]}},"required":["b"]}"#
        XCTAssertEqual(try parse(#"{"model": "tiny", "prompt": [3], "response_format": {"type": "json_schema", "json_schema": {"name": "t", "strict": true, "schema": "#
                                 + schema + "}}}").sampling.jsonSchema, schema)
        XCTAssertEqual(try parse(#"{"model": "tiny", "prompt": [3], "structured_outputs": {"json": "#
                                 + JSONString.quoted(schema, asciiOnly: true) + "}}").sampling.jsonSchema, schema, "vLLM's schema as JSON text")
        XCTAssertEqual(try parse(#"{"model": "tiny", "prompt": [3], "guided_json": "# + schema + "}").sampling.jsonSchema, schema)
        // A regular expression travels as written (vLLM's structured_outputs regex and guided_regex alike).
        XCTAssertEqual(try parse(#"{"model": "tiny", "prompt": [3], "structured_outputs": {"regex": "\\d{3}-[a-z]+"}}"#).sampling.regex, #"\d{3}-[a-z]+"#)
        XCTAssertEqual(try parse(#"{"model": "tiny", "prompt": [3], "guided_regex": "(yes|no)"}"#).sampling.regex, "(yes|no)")
        // A GBNF grammar as written: vLLM's structured_outputs grammar and guided_grammar, llama.cpp's grammar.
        for field in [#""structured_outputs": {"grammar": "#, #""guided_grammar": "#, #""grammar": "#] {
            let close = field.contains("{") ? "}" : ""
            let sampling = try parse(#"{"model": "tiny", "prompt": [3], "# + field + #""root ::= [a-z]+ \"!\"\n""# + close + "}").sampling
            XCTAssertEqual(sampling.grammar, "root ::= [a-z]+ \"!\"\n", field)
        }
        XCTAssertEqual(try parse(#"{"model": "tiny", "prompt": [3]}"#).sampling.regex, "")
        // A named tool choice: the reply is that function's arguments, sampled under its parameters.
        let tools = #"[{"type": "function", "function": {"name": "f", "parameters": "# + schema + #"}}, {"type": "function", "function": {"name": "g"}}]"#
        let named = try parse(#"{"model": "tiny", "messages": [{"role": "user", "content": "hi"}], "tools": "# + tools
                              + #", "tool_choice": {"type": "function", "function": {"name": "f"}}}"#, .chat)
        XCTAssertEqual(named.forcedTools, .named("f"))
        XCTAssertEqual(named.sampling.jsonSchema, schema)
        XCTAssertFalse(named.parsesToolCalls)
        let noParameters = try parse(#"{"model": "tiny", "messages": [{"role": "user", "content": "hi"}], "tools": "# + tools
                                     + #", "tool_choice": {"type": "function", "function": {"name": "g"}}}"#, .chat)
        XCTAssertEqual(noParameters.sampling.jsonSchema, #"{"type":"object","properties":{}}"#)
        // "required": a JSON array of calls to any of them, one with parallel_tool_calls false (vLLM's schema).
        let required = try parse(#"{"model": "tiny", "messages": [{"role": "user", "content": "hi"}], "tools": "# + tools
                                 + #", "tool_choice": "required", "parallel_tool_calls": false}"#, .chat)
        XCTAssertEqual(required.forcedTools, .required)
        XCTAssertEqual(required.sampling.jsonSchema, #"{"type":"array","minItems":1,"maxItems":1,"items":{"anyOf":["#
                       + #"{"type":"object","properties":{"name":{"enum":["f"]},"parameters":"# + schema + #"},"required":["name","parameters"],"additionalProperties":false},"#
                       + #"{"type":"object","properties":{"name":{"enum":["g"]},"parameters":{"type":"object","properties":{}}},"required":["name","parameters"],"additionalProperties":false}]}}"#)
        XCTAssertEqual(ForcedToolCalls.requiredCalls(#"[{"name": "f", "parameters": {"b": 1, "a": "x"}}, {"name":"g","parameters":{}}]"#).map { [$0.name, $0.arguments] },
                       [["f", #"{"b": 1, "a": "x"}"#], ["g", "{}"]], "arguments as Python's json.dumps writes the parameters")
        XCTAssertEqual(ForcedToolCalls.requiredCalls(#"[{"name": "f", "parameters": {"b": 1"#), [], "a cut reply stays text")
        XCTAssertThrowsError(try parse(#"{"model": "tiny", "messages": [{"role": "user", "content": "hi"}], "tool_choice": "required"}"#, .chat)) {
            XCTAssertEqual(($0 as? APIError)?.param, "tool_choice")
        }
        for (choice, extra) in [(#"{"type": "function", "function": {"name": "h"}}"#, ""), (#""any""#, ""),
                                (#"{"type": "function", "function": {"name": "f"}}"#, #", "response_format": {"type": "json_object"}"#),
                                (#"{"type": "function", "function": {"name": "f"}}"#, #", "ignore_eos": true"#)] {
            XCTAssertThrowsError(try parse(#"{"model": "tiny", "messages": [{"role": "user", "content": "hi"}], "tools": "# + tools
                                           + #", "tool_choice": "# + choice + extra + "}", .chat), choice + extra) {
                XCTAssertEqual(($0 as? APIError)?.param, "tool_choice", "\($0)")
            }
        }
        // vLLM's truncate_prompt_tokens keeps the last k (a cut prompt echoes its kept tokens' text);
        // add_special_tokens: the completions default adds BOS, false does not.
        let cut = try parse(#"{"model": "tiny", "prompt": [[1, 2, 3, 4], [5]], "truncate_prompt_tokens": 2, "echo": true}"#)
        XCTAssertEqual(cut.prompts, [[3, 4], [5]])
        XCTAssertEqual(try parse(#"{"model": "tiny", "prompt": [1, 2, 3], "truncate_prompt_tokens": -1}"#).prompts, [[1, 2, 3]])
        let withBOS = try parse(#"{"model": "tiny", "prompt": "ab"}"#).prompts[0]
        let withoutBOS = try parse(#"{"model": "tiny", "prompt": "ab", "add_special_tokens": false}"#).prompts[0]
        XCTAssertEqual(withBOS, [0] + withoutBOS, "BOS (id 0) only with the default add_special_tokens")
        let cutText = try parse(#"{"model": "tiny", "prompt": "ab", "truncate_prompt_tokens": 1, "echo": true}"#)
        XCTAssertEqual(cutText.prompts, [Array(withBOS.suffix(1))])
        XCTAssertEqual(cutText.echoTexts, [try Self.served.get().text.decode(Array(withBOS.suffix(1)))], "the kept tokens' text, not \"ab\"")
        XCTAssertEqual(processed.sampling.minTokens, 9)
        XCTAssertEqual(processed.minTokens, 9)
        XCTAssertEqual(processed.sampling.logitBias.map(\.tokenId), [7, 8])
        XCTAssertEqual(processed.sampling.logitBias.map(\.bias), [100, -2.5])
        XCTAssertEqual(processed.sampling.topLogprobs, 3)
        XCTAssertEqual(processed.topLogprobs, 3)
        let plain = try parse(#"{"model": "tiny", "prompt": [3]}"#)
        XCTAssertNil(plain.topLogprobs)
        XCTAssertEqual(plain.sampling.repetitionPenalty, 1)
        XCTAssertEqual(try parse(#"{"model": "tiny", "prompt": [3], "logprobs": 0}"#).topLogprobs, 0)
        let chatLogprobs = try parse(#"{"model": "tiny", "messages": [{"role": "user", "content": "x"}], "logprobs": true}"#, .chat)
        XCTAssertEqual(chatLogprobs.topLogprobs, 0)
        XCTAssertEqual(try parse(#"{"model": "tiny", "messages": [{"role": "user", "content": "x"}], "logprobs": true, "top_logprobs": 20}"#, .chat).topLogprobs, 20)
        XCTAssertNil(try parse(#"{"model": "tiny", "messages": [{"role": "user", "content": "x"}], "logprobs": false}"#, .chat).topLogprobs)

        // A streamed chat with usage; its length defaults to the rest of the context; max_completion_tokens wins.
        let chat = try parse(#"{"model": "tiny", "messages": [{"role": "user", "content": "Hi"}], "stream": true, "stream_options": {"include_usage": true}}"#, .chat)
        XCTAssertTrue(chat.stream && chat.includeUsage)
        XCTAssertEqual(chat.prompts.count, 1)
        XCTAssertEqual(chat.maxTokens, [4096 - chat.prompts[0].count])
        let capped = try parse(#"{"model": "tiny", "messages": [{"role": "user", "content": "Hi"}], "max_completion_tokens": 5, "max_tokens": 9}"#, .chat)
        XCTAssertEqual(capped.maxTokens, [5])
        // vLLM's continuous_usage_stats (GuideLLM sends it): usage on every chunk, with include_usage only.
        let continuous = try parse(#"{"model": "tiny", "prompt": [3], "stream": true, "stream_options": {"include_usage": true, "continuous_usage_stats": true}}"#)
        XCTAssertTrue(continuous.includeUsage && continuous.continuousUsage)
        XCTAssertFalse(try parse(#"{"model": "tiny", "prompt": [3], "stream": true, "stream_options": {"continuous_usage_stats": true}}"#).continuousUsage)
        // Text parts of a list content are the same message as the joined string.
        let parts = try parse(#"{"model": "tiny", "messages": [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}]}"#, .chat)
        XCTAssertEqual(parts.prompts, chat.prompts)
    }
}
