import ChatTemplate
import DeepSeekModel
import Foundation
@testable import Gateway
import ModelText
import XCTest

/// Tool calls read off generated token ids (vLLM's deepseek_v3, deepseek_v31 and kimi_k2 formats):
/// tiny's tokenizer has DeepSeek-V3's markers as added tokens (as the real one); Kimi-K2's are added
/// to a copy of it.
final class ToolCallTests: XCTestCase {
    static let kimiMarkers = ["<|tool_calls_section_begin|>", "<|tool_calls_section_end|>", "<|tool_call_begin|>", "<|tool_call_end|>",
                              "<|tool_call_argument_begin|>"]

    /// tiny's folder with `markers` appended to its tokenizer as added tokens (ids from 512).
    static func folder(markers: [String]) throws -> String {
        let tiny = try BuiltinModel.resolve("tiny")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("toolcalls-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for file in ["config.json", "tokenizer_config.json", "generation_config.json"] {
            try FileManager.default.copyItem(atPath: tiny + "/" + file, toPath: dir + "/" + file)
        }
        var tokenizer = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: tiny + "/tokenizer.json"))) as! [String: Any]
        var added = tokenizer["added_tokens"] as! [[String: Any]]
        for (i, marker) in markers.enumerated() {
            added.append(["id": 512 + i, "content": marker, "single_word": false, "lstrip": false, "rstrip": false,
                          "normalized": false, "special": false])
        }
        tokenizer["added_tokens"] = added
        try JSONSerialization.data(withJSONObject: tokenizer).write(to: URL(fileURLWithPath: dir + "/tokenizer.json"))
        return dir
    }

    private func splitter(_ name: ToolCallFormat.Name) throws -> (ToolCallSplitter, ModelText) {
        let text = try ModelText(folder: name == .kimiK2 ? try Self.folder(markers: Self.kimiMarkers) : try BuiltinModel.resolve("tiny"))
        return (ToolCallSplitter(format: try ToolCallFormat(name, text: text), text: text), text)
    }

    /// Every piece of `tokens` through the splitter, then its finish.
    private func run(_ s: inout ToolCallSplitter, _ tokens: [Int]) -> [ToolCallSplitter.Piece] {
        tokens.flatMap { s.feed($0) } + s.finish()
    }

    private func ids(_ text: ModelText, _ s: String) -> [Int] { text.tokenizer.encode(s, addSpecialTokens: false) }

    /// The calls the pieces make, whole: a started call with every arguments piece after it.
    private func calls(_ pieces: [ToolCallSplitter.Piece]) -> [ToolCall] {
        var out: [ToolCall] = []
        for piece in pieces {
            switch piece {
            case .started(let c): out.append(c)
            case .arguments(let more): out[out.count - 1].arguments += more
            case .text: break
            }
        }
        return out
    }

    /// Arguments pieces with text (a streamed call sends its arguments as they come).
    private func argumentPieces(_ pieces: [ToolCallSplitter.Piece]) -> Int {
        pieces.filter { if case .arguments(let a) = $0 { return !a.isEmpty } else { return false } }.count
    }

    func testDeepSeekV31CallsBetweenText() throws {
        var (s, text) = try splitter(.deepseekV31)
        let f = s.format
        let (begin, end, call, callEnd, sep) = (f.sectionBegin, f.sectionEnd, f.callBegin, f.callEnd, f.separator)
        let lead = ids(text, "Let me check.")
        let tokens = lead + [begin, call] + ids(text, "get_weather") + [sep] + ids(text, #"{"city": "Paris"}"#) + [callEnd]
            + [call] + ids(text, "get_time") + [sep] + ids(text, #"{"zone": "CET"}"#) + [callEnd, end]
        let pieces = run(&s, tokens)
        XCTAssertEqual(pieces.prefix(lead.count).map { if case .text(let id) = $0 { return id } else { return -1 } }, lead)
        let calls = calls(pieces)
        XCTAssertEqual(calls.map(\.name), ["get_weather", "get_time"])
        XCTAssertEqual(calls.map(\.arguments), [#"{"city": "Paris"}"#, #"{"zone": "CET"}"#])
        XCTAssertTrue(calls.allSatisfy { $0.id.hasPrefix("chatcmpl-tool-") })
        XCTAssertFalse(pieces.dropFirst(lead.count).contains { if case .text = $0 { return true } else { return false } },
                       "markers and call tokens are not text")
        XCTAssertGreaterThan(argumentPieces(pieces), 4, "the arguments stream as they are generated, not at the call's end")
        XCTAssertEqual(s.calls, 2)
    }

    func testDeepSeekV3FencedArguments() throws {
        var (s, text) = try splitter(.deepseekV3)
        let f = s.format
        let tokens = [f.sectionBegin, f.callBegin] + ids(text, "function") + [f.separator]
            + ids(text, "get_weather\n```json\n{\"city\": \"Paris\"}\n```") + [f.callEnd, f.sectionEnd]
        let pieces = run(&s, tokens)
        XCTAssertEqual(calls(pieces).map { [$0.name, $0.arguments] }, [["get_weather", #"{"city": "Paris"}"#]],
                       "the name from before the opening fence, the arguments without the closing one")
        XCTAssertGreaterThan(argumentPieces(pieces), 1, "the arguments stream")
        XCTAssertFalse(pieces.contains { if case .arguments(let a) = $0 { return a.contains("`") } else { return false } },
                       "no piece of a fence is sent")
        // Without the opening fence it is not this format's call: its tokens stay text.
        var (t, _) = try splitter(.deepseekV3)
        let plain = [f.sectionBegin, f.callBegin] + ids(text, "function") + [f.separator] + ids(text, "get_weather {}") + [f.callEnd, f.sectionEnd]
        let textPieces = run(&t, plain)
        XCTAssertEqual(textPieces, plain.map { .text($0) }, "the malformed call's tokens come back as text, markers included")
        // Cut inside its arguments: the call ends with what it has.
        var (u, _) = try splitter(.deepseekV3)
        let cut = [f.sectionBegin, f.callBegin] + ids(text, "function") + [f.separator] + ids(text, "get_weather\n```json\n{\"city\": \"Pa")
        XCTAssertEqual(calls(run(&u, cut)).map { [$0.name, $0.arguments] }, [["get_weather", #"{"city": "Pa"#]])
    }

    func testKimiK2IdsAndNames() throws {
        var (s, text) = try splitter(.kimiK2)
        let tokens = [512, 514] + ids(text, "functions.get_weather:0") + [516] + ids(text, #"{"city": "Beijing"}"#) + [515, 513]
        let pieces = run(&s, tokens)
        XCTAssertEqual(calls(pieces), [ToolCall(id: "functions.get_weather:0", name: "get_weather", arguments: #"{"city": "Beijing"}"#)])
        XCTAssertGreaterThan(argumentPieces(pieces), 1)
    }

    func testAnUnfinishedSectionIsTextAtTheEnd() throws {
        var (s, text) = try splitter(.deepseekV31)
        let tokens = ids(text, "ok") + [s.format.sectionBegin, s.format.callBegin] + ids(text, "get_we")
        XCTAssertEqual(run(&s, tokens), tokens.map { .text($0) }, "nothing is lost when generation stops mid-call")
        // Cut after its name: the call was started (a stream sent it), and ends with the arguments it has.
        var (t, _) = try splitter(.deepseekV31)
        let f = t.format
        let cut = [f.sectionBegin, f.callBegin] + ids(text, "get_weather") + [f.separator] + ids(text, #"{"city": "Pa"#)
        XCTAssertEqual(calls(run(&t, cut)).map { [$0.name, $0.arguments] }, [["get_weather", #"{"city": "Pa"#]])
        // A head that is not a name (empty) starts nothing: the call is text at its end marker.
        var (u, _) = try splitter(.deepseekV31)
        let nameless = [f.sectionBegin, f.callBegin, f.separator] + ids(text, "{}") + [f.callEnd, f.sectionEnd]
        XCTAssertEqual(run(&u, nameless), nameless.map { .text($0) }, "markers included")
    }

    /// Whatever a model generates (markers in any order, cut anywhere), the splitter never traps, a
    /// call's arguments only follow its start, and text tokens come out in their order: 3000 random
    /// sequences per format over its markers and a few ordinary ids.
    func testAnyTokenSequenceSplitsWithoutLoss() throws {
        var rng = SystemRandomNumberGenerator()
        for name in ToolCallFormat.Name.allCases {
            let (fresh, text) = try splitter(name)
            let f = fresh.format
            let alphabet = [f.sectionBegin, f.sectionEnd, f.callBegin, f.callEnd, f.separator] + ids(text, "get_weather\n```json\n{\"a\": 1}\n```")
            for _ in 0..<3000 {
                var s = fresh
                let tokens = (0..<Int.random(in: 0...24, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! }
                let pieces = run(&s, tokens)
                var started = false
                var textTokens: [Int] = []
                for piece in pieces {
                    switch piece {
                    case .started: started = true
                    case .arguments: XCTAssertTrue(started, "\(name): arguments before any call in \(tokens)")
                    case .text(let id): textTokens.append(id)
                    }
                }
                XCTAssertTrue(isSubsequence(textTokens, of: tokens),
                              "\(name): text tokens out of order for \(tokens)")
                XCTAssertEqual(pieces.filter { if case .started = $0 { return true } else { return false } }.count, s.calls)
            }
        }
    }

    private func isSubsequence(_ a: [Int], of b: [Int]) -> Bool {
        var i = 0
        for x in b where i < a.count && a[i] == x { i += 1 }
        return i == a.count
    }

    func testAParserNeedsItsMarkersInTheTokenizer() throws {
        let text = try ModelText(folder: try BuiltinModel.resolve("bench"))
        XCTAssertThrowsError(try ToolCallFormat(.kimiK2, text: text)) { error in
            XCTAssertTrue("\(error)".contains("<|tool_calls_section_begin|>"), "\(error)")
        }
    }

    func testToolsInRequests() throws {
        let dir = try BuiltinModel.resolve("tiny")
        let plain = try ServedModel(model: dir, servedName: "m")
        let parsing = try ServedModel(model: dir, servedName: "m", toolCallParser: .deepseekV31)
        let tools = #"[{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]"#
        let body = #"{"model": "m", "messages": [{"role": "user", "content": "Weather?"}], "tools": \#(tools)}"#
        let request = try GenerationRequest(body: body, kind: .chat, model: parsing)
        XCTAssertTrue(request.parsesToolCalls)
        XCTAssertEqual(request.tools.count, 1)
        XCTAssertFalse(try GenerationRequest(body: body.replacingOccurrences(of: "\"tools\"", with: "\"tool_choice\": \"none\", \"tools\""),
                                             kind: .chat, model: parsing).parsesToolCalls)
        func refusal(_ body: String, _ served: ServedModel, _ kind: GenerationRequest.Kind = .chat) -> String? {
            do { _ = try GenerationRequest(body: body, kind: kind, model: served); return nil } catch let e as APIError { return e.param } catch { return "?" }
        }
        XCTAssertEqual(refusal(body, plain), "tool_choice", "auto without --tool-call-parser")
        // "required" is guided decoding (no parser needed); an unknown choice is refused.
        XCTAssertEqual(try GenerationRequest(body: body.replacingOccurrences(of: "\"tools\"", with: "\"tool_choice\": \"required\", \"tools\""),
                                             kind: .chat, model: plain).forcedTools, .required)
        XCTAssertEqual(refusal(body.replacingOccurrences(of: "\"tools\"", with: "\"tool_choice\": \"any\", \"tools\""), parsing), "tool_choice")
        XCTAssertEqual(refusal(#"{"model": "m", "messages": [{"role": "user", "content": "x"}], "tools": [{"type": "function"}]}"#, parsing), "tools")
        XCTAssertEqual(refusal(#"{"model": "m", "prompt": "x", "tools": \#(tools)}"#, parsing, .completion), "tools")
        XCTAssertEqual(refusal(#"{"model": "m", "messages": [{"role": "user", "content": "x"}], "functions": [{"name": "f"}]}"#, parsing), "functions")
    }
}
