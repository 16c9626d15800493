import DeepSeekModel
@testable import Gateway
import ModelText
import XCTest

/// `--reasoning-parser deepseek_r1` on tiny's tokenizer (<think> and </think> are its added tokens):
/// where the output starts is read off the prompt, the markers are neither reasoning nor answer.
final class ReasoningTests: XCTestCase {
    func testThePromptDecidesWhereTheOutputStarts() throws {
        let text = try ModelText(folder: try BuiltinModel.resolve("tiny"))
        let format = try ReasoningFormat(.deepseekR1, text: text)
        let messages = try ModelText.messages(json: #"[{"role": "user", "content": "Hi"}]"#)
        let thinking = try text.encode(chat: messages, extra: ["thinking": .bool(true)]).ids     // ends <think>
        let answering = try text.encode(chat: messages).ids                                     // ends <think></think>
        XCTAssertTrue(format.startsInReasoning(prompt: thinking))
        XCTAssertFalse(format.startsInReasoning(prompt: answering))
        XCTAssertFalse(format.startsInReasoning(prompt: [3, 17]))

        let ids = text.tokenizer.encode("plan", addSpecialTokens: false), answer = text.tokenizer.encode("ok", addSpecialTokens: false)
        var split = ReasoningSplitter(format: format, prompt: thinking)
        let pieces = (ids + [format.close] + answer).compactMap { split.feed($0) }
        XCTAssertEqual(pieces, ids.map { .reasoning($0) } + answer.map { .content($0) })
        // An answer that opens a think block of its own (R1 often writes <think> first).
        var fresh = ReasoningSplitter(format: format, prompt: answering)
        XCTAssertEqual(([format.open] + ids + [format.close] + answer).compactMap { fresh.feed($0) }, ids.map { .reasoning($0) } + answer.map { .content($0) })
    }

    func testChatTemplateKwargsReachTheTemplate() throws {
        let served = try ServedModel(model: try BuiltinModel.resolve("tiny"), servedName: "tiny", reasoningParser: .deepseekR1)
        let body = #"{"model": "tiny", "messages": [{"role": "user", "content": "Hi"}], "chat_template_kwargs": {"thinking": true}}"#
        let request = try GenerationRequest(body: body, kind: .chat, model: served)
        XCTAssertEqual(request.prompts[0].last, served.text.tokenizer.tokenID(for: "<think>"))
        XCTAssertThrowsError(try GenerationRequest(body: #"{"model": "tiny", "messages": [{"role": "user", "content": "Hi"}], "chat_template_kwargs": {"messages": []}}"#,
                                                   kind: .chat, model: served)) { XCTAssertEqual(($0 as? APIError)?.param, "chat_template_kwargs") }
        XCTAssertThrowsError(try GenerationRequest(body: #"{"model": "tiny", "prompt": "x", "chat_template_kwargs": {}}"#, kind: .completion, model: served))
    }
}
