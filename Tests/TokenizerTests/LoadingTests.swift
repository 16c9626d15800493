import Foundation
import Tokenizer
import XCTest

/// What the loader refuses (by name, never approximated) and what it reads from the side files.
final class LoadingTests: XCTestCase {
    /// A tiny valid tokenizer.json with one field replaced.
    private func tokenizerJSON(_ overrides: [String: String] = [:]) -> Data {
        var fields = [
            "normalizer": "null",
            "pre_tokenizer": #"{"type": "ByteLevel", "add_prefix_space": false, "use_regex": true}"#,
            "decoder": #"{"type": "ByteLevel"}"#,
            "post_processor": "null",
            "model": #"{"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2, "<s>": 3}, "merges": [["a", "b"]]}"#,
            "added_tokens": #"[{"id": 3, "content": "<s>", "special": true, "normalized": false}]"#,
        ]
        for (k, v) in overrides { fields[k] = v }
        let body = fields.map { "\"\($0.key)\": \($0.value)" }.joined(separator: ", ")
        return Data("{\(body)}".utf8)
    }

    private func assertRefused(_ overrides: [String: String], component: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try Tokenizer(tokenizerJSON: tokenizerJSON(overrides)), file: file, line: line) { error in
            guard case let TokenizerError.unsupported(name, _) = error else {
                return XCTFail("expected unsupported \(component), got \(error)", file: file, line: line)
            }
            XCTAssertEqual(name, component, file: file, line: line)
            XCTAssertFalse("\(error)".contains("\n"), "one line", file: file, line: line)
        }
    }

    func testMinimalFileEncodesAndDecodes() throws {
        let t = try Tokenizer(tokenizerJSON: tokenizerJSON())
        XCTAssertEqual(t.encode("ab<s>ba", addSpecialTokens: false), [2, 3, 1, 0])
        XCTAssertEqual(t.decode([2, 3, 1, 0], skipSpecialTokens: false), "ab<s>ba")
        XCTAssertEqual(t.decode([2, 3, 1, 0], skipSpecialTokens: true), "abba")
        XCTAssertEqual(t.tokenID(for: "ab"), 2)
        XCTAssertEqual(t.tokenID(for: "<s>"), 3)
    }

    func testUnsupportedComponentsAreRefusedByName() {
        assertRefused(["normalizer": #"{"type": "BertNormalizer"}"#], component: "normalizer BertNormalizer")
        assertRefused(["pre_tokenizer": #"{"type": "Metaspace", "replacement": "▁"}"#], component: "pre-tokenizer Metaspace")
        assertRefused(["decoder": #"{"type": "WordPiece"}"#], component: "decoder WordPiece")
        assertRefused(["post_processor": #"{"type": "Mystery"}"#], component: "post-processor Mystery")
        assertRefused(["model": #"{"type": "Unigram", "vocab": []}"#], component: "model Unigram")
        assertRefused(["pre_tokenizer": #"{"type": "Split", "pattern": {"Regex": "(?<=a)b"}, "behavior": "Isolated"}"#],
                      component: "regex construct lookbehind (?<= / (?<!")
        assertRefused(["pre_tokenizer": #"{"type": "Split", "pattern": {"Regex": "(?>ab)"}, "behavior": "Isolated"}"#],
                      component: "regex construct atomic group (?>...)")
        assertRefused(["pre_tokenizer": #"{"type": "Split", "pattern": {"Regex": "(a)\\1"}, "behavior": "Isolated"}"#],
                      component: "regex construct backreference / subexp call")
        assertRefused(["pre_tokenizer": #"{"type": "Split", "pattern": {"Regex": "\\p{Greek}"}, "behavior": "Isolated"}"#],
                      component: "regex construct property \\p{Greek} (only general categories and Han)")
        assertRefused(["pre_tokenizer": #"{"type": "Split", "pattern": {"Regex": "[a-z&&]"}, "behavior": "Isolated"}"#],
                      component: "regex construct class intersection with an empty side")
        assertRefused(["pre_tokenizer": #"{"type": "Split", "pattern": {"Regex": "(?i:[a-z&&[^b]])"}, "behavior": "Isolated"}"#],
                      component: "regex construct class intersection && under (?i)")
        assertRefused(["pre_tokenizer": #"{"type": "Split", "pattern": {"Regex": "a"}, "behavior": "Sideways"}"#],
                      component: "Split behavior Sideways")
    }

    func testSideFiles() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tokenizer-loading-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        try tokenizerJSON().write(to: folder.appendingPathComponent("tokenizer.json"))
        try Data(#"{"add_bos_token": true, "bos_token": {"content": "<s>"}, "eos_token": "b", "chat_template": [{"name": "tool_use", "template": "T"}, {"name": "default", "template": "D"}]}"#.utf8)
            .write(to: folder.appendingPathComponent("tokenizer_config.json"))
        try Data(#"{"eos_token_id": [0, 2]}"#.utf8).write(to: folder.appendingPathComponent("generation_config.json"))
        let t = try Tokenizer(folder: folder)
        XCTAssertEqual(t.bosTokenID, 3)
        XCTAssertEqual(t.eosTokenIDs, [0, 2, 1])
        XCTAssertEqual(t.chatTemplate, "D")
        XCTAssertEqual(t.encode("ab", addSpecialTokens: true), [3, 2])

        // chat_template.jinja when tokenizer_config has none.
        try Data(#"{"bos_token": "<s>"}"#.utf8).write(to: folder.appendingPathComponent("tokenizer_config.json"))
        try Data("{{ messages }}".utf8).write(to: folder.appendingPathComponent("chat_template.jinja"))
        XCTAssertEqual(try Tokenizer(folder: folder).chatTemplate, "{{ messages }}")
    }

    /// Regressions for scripts/fuzz (fuzz-tokenizer): inputs that overflowed the stack or compiled for
    /// minutes are refused with one line, as HF tokenizers (serde_json's depth limit, Oniguruma's
    /// repeat limit) refuses them.
    func testDeeplyNestedJSONIsMalformedNotAStackOverflow() {
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        XCTAssertThrowsError(try Tokenizer(tokenizerJSON: tokenizerJSON(["normalizer": deep]))) { error in
            guard case TokenizerError.malformed(_, let detail) = error else { return XCTFail("expected malformed, got \(error)") }
            XCTAssertTrue(detail.contains("levels deep"), detail)
        }
    }

    func testRegexNestingAndRepeatsAreBounded() throws {
        func split(_ regex: String) -> [String: String] {
            let quoted = String(data: try! JSONEncoder().encode(regex), encoding: .utf8)!
            return ["pre_tokenizer": #"{"type": "Split", "pattern": {"Regex": \#(quoted)}, "behavior": "Isolated"}"#]
        }
        XCTAssertNoThrow(try Tokenizer(tokenizerJSON: tokenizerJSON(split(String(repeating: "(", count: 20) + "a" + String(repeating: ")", count: 20)))))
        XCTAssertNoThrow(try Tokenizer(tokenizerJSON: tokenizerJSON(split("a{2,100}"))))
        for pattern in [String(repeating: "(", count: 100_000) + "a" + String(repeating: ")", count: 100_000),
                        String(repeating: "[[", count: 50_000) + "a",
                        "a{1000000}",
                        "((((a{100}){100}){100}){100})"] {
            XCTAssertThrowsError(try Tokenizer(tokenizerJSON: tokenizerJSON(split(pattern))), pattern.prefix(20).description) { error in
                XCTAssertTrue(error is TokenizerError, "\(error)")
            }
        }
    }
}
