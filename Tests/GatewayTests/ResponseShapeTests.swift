import ChatTemplate
import Foundation
@testable import Gateway
import Hummingbird
import NIOCore
import XCTest

/// SSE framing and OpenAI's response objects, read back with Foundation's JSON parser and checked
/// against OpenAI's documented shapes (text_completion, chat.completion(.chunk), usage).
final class ResponseShapeTests: XCTestCase {
    private func object(_ value: Value) -> [String: Any] {
        try! JSONSerialization.jsonObject(with: Data(value.compactJSON.utf8)) as! [String: Any]
    }

    /// Events of an SSE body as the spec splits them: blocks ended by a blank line, `data: ` lines.
    private func events(_ buffers: [ByteBuffer]) -> [String] {
        let text = buffers.map { String(buffer: $0) }.joined()
        XCTAssertTrue(text.hasSuffix("\n\n"), "every event ends with a blank line")
        return text.components(separatedBy: "\n\n").dropLast().map { block in
            XCTAssertFalse(block.contains("\n"), "one data line per event: \(block)")
            XCTAssertTrue(block.hasPrefix("data: "), block)
            return String(block.dropFirst("data: ".count))
        }
    }

    func testStreamedCompletionFraming() {
        let shapes = OpenAIResponses(kind: .completion, model: "tiny")
        let body = [HTTP.sse(shapes.chunk(index: 0, text: "Hel", finishReason: nil, first: true, withUsageField: true)),
                    HTTP.sse(shapes.chunk(index: 0, text: "lo\n\nworld", finishReason: "length", first: false, withUsageField: true)),
                    HTTP.sse(shapes.usageChunk(OpenAIResponses.usage(prompt: 5, completion: 3))),
                    HTTP.done]
        let data = events(body)
        XCTAssertEqual(data.count, 4, "a newline inside the text stays escaped in the JSON")
        XCTAssertEqual(data.last, "[DONE]")
        let chunks = data.dropLast().map { try! JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        var text = ""
        for chunk in chunks {
            XCTAssertEqual(chunk["object"] as? String, "text_completion")
            XCTAssertEqual(chunk["id"] as? String, shapes.id)
            XCTAssertTrue((chunk["id"] as? String ?? "").hasPrefix("cmpl-"))
            XCTAssertEqual(chunk["model"] as? String, "tiny")
            XCTAssertTrue(chunk["created"] is Int)
            for choice in chunk["choices"] as! [[String: Any]] { text += choice["text"] as! String }
        }
        XCTAssertEqual(text, "Hello\n\nworld")
        let first = (chunks[0]["choices"] as! [[String: Any]])[0]
        XCTAssertTrue(first["finish_reason"] is NSNull)
        XCTAssertTrue(chunks[0]["usage"] is NSNull, "include_usage: null usage on every chunk but the last")
        XCTAssertEqual((chunks[1]["choices"] as! [[String: Any]])[0]["finish_reason"] as? String, "length")
        XCTAssertEqual((chunks[2]["choices"] as! [Any]).count, 0, "the usage chunk has no choices")
        let usage = chunks[2]["usage"] as! [String: Int]
        XCTAssertEqual(usage, ["prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8])
    }

    func testStreamedChatRoleFirstThenContent() {
        let shapes = OpenAIResponses(kind: .chat, model: "tiny")
        let role = object(shapes.chunk(index: 0, text: "", finishReason: nil, first: true, withUsageField: false))
        XCTAssertEqual(role["object"] as? String, "chat.completion.chunk")
        XCTAssertTrue((role["id"] as? String ?? "").hasPrefix("chatcmpl-"))
        XCTAssertNil(role["usage"], "no usage field without include_usage")
        let delta = ((role["choices"] as! [[String: Any]])[0]["delta"] as! [String: Any])
        XCTAssertEqual(delta["role"] as? String, "assistant")
        XCTAssertEqual(delta["content"] as? String, "")
        let last = object(shapes.chunk(index: 0, text: "", finishReason: "stop", first: false, withUsageField: false))
        let choice = (last["choices"] as! [[String: Any]])[0]
        XCTAssertEqual(choice["finish_reason"] as? String, "stop")
        XCTAssertEqual((choice["delta"] as! [String: Any]).count, 0, "the closing chunk's delta is empty")
        let content = object(shapes.chunk(index: 0, text: "hi", finishReason: nil, first: false, withUsageField: false))
        XCTAssertEqual(((content["choices"] as! [[String: Any]])[0]["delta"] as! [String: String]), ["content": "hi"])
    }

    func testContinuousUsageChunkCarriesTheCountsSoFar() {
        let shapes = OpenAIResponses(kind: .completion, model: "tiny")
        let chunk = object(shapes.chunk(index: 0, text: "a", finishReason: nil, first: false, withUsageField: true,
                                        usage: OpenAIResponses.usage(prompt: 9, completion: 2)))
        XCTAssertEqual(chunk["usage"] as? [String: Int], ["prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11])
    }

    func testWholeResponsesAndUsage() {
        let completion = object(OpenAIResponses(kind: .completion, model: "tiny")
            .complete(texts: ["a", "bc"], finishReasons: ["stop", "length"], stopReasons: [.text("\n\n"), nil], logprobs: [.none, .none],
                      usage: OpenAIResponses.usage(prompt: 7, completion: 4)))
        XCTAssertEqual(completion["object"] as? String, "text_completion")
        let choices = completion["choices"] as! [[String: Any]]
        XCTAssertEqual(choices.map { $0["index"] as! Int }, [0, 1])
        XCTAssertEqual(choices.map { $0["text"] as! String }, ["a", "bc"])
        XCTAssertEqual(choices.map { $0["finish_reason"] as! String }, ["stop", "length"])
        // vLLM: the matched stop string (or stop token id) as stop_reason; null otherwise.
        XCTAssertEqual(choices[0]["stop_reason"] as? String, "\n\n")
        XCTAssertTrue(choices[1]["stop_reason"] is NSNull)
        XCTAssertEqual(completion["usage"] as? [String: Int], ["prompt_tokens": 7, "completion_tokens": 4, "total_tokens": 11])

        let chat = object(OpenAIResponses(kind: .chat, model: "tiny")
            .complete(texts: ["hey"], finishReasons: ["stop"], stopReasons: [.token(7)], logprobs: [.none], usage: OpenAIResponses.usage(prompt: 3, completion: 1)))
        XCTAssertEqual(chat["object"] as? String, "chat.completion")
        let message = (chat["choices"] as! [[String: Any]])[0]["message"] as! [String: Any]
        XCTAssertEqual(message["role"] as? String, "assistant")
        XCTAssertEqual(message["content"] as? String, "hey")
        XCTAssertEqual((chat["choices"] as! [[String: Any]])[0]["stop_reason"] as? Int, 7)
        XCTAssertEqual(chat["usage"] as? [String: Int], ["prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4])
        // --enable-prompt-tokens-details: OpenAI's prompt_tokens_details.cached_tokens.
        let detailed = object(OpenAIResponses(kind: .chat, model: "tiny")
            .complete(texts: ["hey"], finishReasons: ["stop"], stopReasons: [nil], logprobs: [.none],
                      usage: OpenAIResponses.usage(prompt: 70, completion: 1, cached: 64)))["usage"] as! [String: Any]
        XCTAssertEqual(detailed["prompt_tokens_details"] as? [String: Int], ["cached_tokens": 64])
        XCTAssertEqual(detailed["prompt_tokens"] as? Int, 70)
    }

    func testOverloadAnswersCarryRetryAfter() {
        let response = HTTP.error(.overloaded(status: 429, "busy"))
        XCTAssertEqual(response.status.code, 429)
        XCTAssertEqual(response.headers[.retryAfter], "1")
        XCTAssertEqual(response.headers[.contentType], "application/json")
        XCTAssertEqual(HTTP.error(.overloaded(status: 503, "none ready")).status.code, 503)
        XCTAssertNil(HTTP.error(.invalid("x", "bad")).headers[.retryAfter])
    }
}
