import ChatTemplate
import DeepSeekModel
import ModelText
import XCTest

/// TextStream on the built-in bench tokenizer: streamed pieces add up to decode(all ids) and never
/// split a character; a stop string cuts the text before it, across token boundaries.
final class TextStreamTests: XCTestCase {
    func testStreamedPiecesEqualWholeDecodeAndStopStringsCut() throws {
        let text = try ModelText(folder: try BuiltinModel.resolve("tiny"))
        let sentence = "Hello wörld! 你好, 🙂 ok</s> tail"
        let ids = text.encode(prompt: sentence)
        XCTAssertEqual(ids.first, 0, "BOS from the post-processor")
        var stream = TextStream(text)
        var pieces: [String] = []
        for id in ids { pieces.append(stream.append(id)) }
        pieces.append(stream.finish())
        XCTAssertEqual(pieces.joined(), text.decode(ids))
        XCTAssertEqual(pieces.joined(), sentence, "byte-level BPE round-trips; BOS is skipped as special")
        XCTAssertFalse(pieces.contains { $0.unicodeScalars.contains("\u{FFFD}") }, "no split character")

        var stopped = TextStream(text, stopStrings: ["</s>", "never"])
        var out = ""
        for id in ids {
            out += stopped.append(id)
            if stopped.stoppedBy != nil { break }
        }
        out += stopped.finish()
        XCTAssertEqual(out, "Hello wörld! 你好, 🙂 ok")
        XCTAssertEqual(stopped.stoppedBy, "</s>")
    }

    /// vLLM's min_tokens: no stop string is looked for in the text of the first min_tokens tokens.
    func testStopStringsWaitForMinTokens() throws {
        let text = try ModelText(folder: try BuiltinModel.resolve("tiny"))
        let ids = text.encode(prompt: "ab ab ab cd")
        func run(minTokens: Int) -> (String, String?) {
            var stream = TextStream(text, stopStrings: ["ab"], minTokens: minTokens)
            var out = ""
            for id in ids where stream.stoppedBy == nil { out += stream.append(id) }
            return (out + stream.finish(), stream.stoppedBy)
        }
        XCTAssertEqual(run(minTokens: 0).0, "")
        // Past the tokens of the first "ab" (BOS, then at least one token each for "ab" and " ab"), the next one stops.
        let (out, stop) = run(minTokens: text.encode(prompt: "ab").count)
        XCTAssertEqual(stop, "ab")
        XCTAssertEqual(out, "ab ")
        XCTAssertEqual(run(minTokens: ids.count).0, "ab ab ab cd", "every token within min_tokens: no stop")
    }

    func testChatNeedsATemplateAndValidMessages() throws {
        let text = try ModelText(folder: try BuiltinModel.resolve("tiny"))
        let messages = try ModelText.messages(json: #"[{"role": "user", "content": "Hi"}]"#)
        let (rendered, ids) = try text.encode(chat: messages)
        XCTAssertEqual(rendered, "<｜begin▁of▁sentence｜><｜User｜>Hi<｜Assistant｜><think></think>")
        XCTAssertEqual(ids.first, 0, "the template writes BOS; no second BOS is added")
        XCTAssertNotEqual(ids.dropFirst().first, 0)
        XCTAssertThrowsError(try ModelText.messages(json: #"{"role": "user"}"#))
        XCTAssertThrowsError(try ModelText.messages(json: #"[{"content": "no role"}]"#))
    }
}
