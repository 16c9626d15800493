import Foundation
import Tokenizer
import XCTest

/// A tiktoken folder (tiktoken.model + tokenization_*.py, no tokenizer.json) on a vocabulary small enough
/// to reason about: what it encodes, and what it refuses. Agreement with tiktoken itself on a real
/// vocabulary is ReferenceAgreementTests.testKimiTikToken.
final class TikTokenLoadingTests: XCTestCase {
    private var folder: URL!

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("tiktoken-loading-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: folder) }

    /// Ranks 0–255 the bytes, then "ab" 256, "abc" 257 and "xyz" 258 (no "xy" nor "yz": reachable only
    /// as a whole piece); pattern: letter runs, digit runs, anything else alone; 4 + 2 control ids.
    private func write(ranks extra: [String] = ["ab", "abc", "xyz"], lines: String? = nil, module: String? = nil,
                       config: String? = nil, moduleName: String = "tokenization_test.py") throws {
        var text = (0..<256).map { "\(Data([UInt8($0)]).base64EncodedString()) \($0)" }
        for (k, token) in extra.enumerated() { text.append("\(Data(token.utf8).base64EncodedString()) \(256 + k)") }
        try Data((lines ?? text.joined(separator: "\n") + "\n").utf8).write(to: folder.appendingPathComponent("tiktoken.model"))
        let source = module ?? """
            class TikTokenTokenizer(PreTrainedTokenizer):
                num_reserved_special_tokens = 4

                pat_str = "|".join(
                    [
                        r\"\"\"\\p{L}+\"\"\",  # letters
                        r'\\p{N}+',
                        r\"\"\"[^\\p{L}\\p{N}]\"\"\",
                    ]
                )
            """
        try Data(source.utf8).write(to: folder.appendingPathComponent(moduleName))
        let configText = config ?? #"""
            {"added_tokens_decoder": {"259": {"content": "<|end|>", "special": true}, "261": {"content": "<tool>", "special": false}},
             "auto_map": {"AutoTokenizer": ["tokenization_test.TikTokenTokenizer", null]}, "eos_token": "<|end|>"}
            """#
        try Data(configText.utf8).write(to: folder.appendingPathComponent("tokenizer_config.json"))
    }

    func testEncodesAsTikToken() throws {
        try write()
        let t = try Tokenizer(folder: folder)
        let a = Int(UInt8(ascii: "a")), x = Int(UInt8(ascii: "x")), y = Int(UInt8(ascii: "y")), z = Int(UInt8(ascii: "z"))
        XCTAssertEqual(t.encode("abc", addSpecialTokens: false), [257])
        XCTAssertEqual(t.encode("abab", addSpecialTokens: false), [256, 256])
        XCTAssertEqual(t.encode("xyz", addSpecialTokens: false), [258], "a piece in the vocabulary is one token")
        XCTAssertEqual(t.encode("xyzz", addSpecialTokens: false), [x, y, z, z], "else merges only")
        XCTAssertEqual(t.encode("a1", addSpecialTokens: false), [a, Int(UInt8(ascii: "1"))])
        XCTAssertEqual(t.encode("é", addSpecialTokens: false), [0xC3, 0xA9], "bytes, not characters")
        // Control tokens: named, unnamed (<|reserved_token_ID|>), all matched in text; BOS is never added.
        XCTAssertEqual(t.encode("ab<|end|>ab<|reserved_token_260|><tool>", addSpecialTokens: true), [256, 259, 256, 260, 261])
        XCTAssertEqual(t.eosTokenIDs, [259])
        XCTAssertEqual(t.decode([256, 259, 260, 261, 0xC3, 0xA9], skipSpecialTokens: false), "ab<|end|><|reserved_token_260|><tool>é")
        XCTAssertEqual(t.decode([256, 259, 260, 261, 0xC3, 0xA9], skipSpecialTokens: true), "ab<tool>é")
        XCTAssertEqual(t.decode([0xC3], skipSpecialTokens: true), "\u{FFFD}")
        XCTAssertTrue(Tokenizer.isPresent(inFolder: folder.path))
    }

    /// A run longer than 25,000 scalars is cut there before the pattern, as the class's encode cuts it:
    /// the letters of one run become two pieces.
    func testLongRunsAreCutAt25000() throws {
        try write()
        let t = try Tokenizer(folder: folder)
        let b = Int(UInt8(ascii: "b")), c = Int(UInt8(ascii: "c"))
        // 24,999 × "b" then "abc": the run of 25,002 letters is cut after 25,000, inside "abc".
        let ids = t.encode(String(repeating: "b", count: 24_999) + "abc", addSpecialTokens: false)
        XCTAssertEqual(ids.count, 25_002)
        XCTAssertEqual(Array(ids.suffix(3)), [Int(UInt8(ascii: "a")), b, c])
        XCTAssertEqual(t.encode(String(repeating: "b", count: 24_997) + "abc", addSpecialTokens: false).suffix(1), [257])
    }

    /// auto_map may name the module with the repository it came from (a fine-tune reusing the original's
    /// code); a name that is not a file of the folder falls back to its only tokenization_*.py.
    func testTheModuleAutoMapNames() throws {
        for reference in ["moonshotai/Kimi-K2-Instruct--tokenization_test.TikTokenTokenizer", "../../tokenization_elsewhere.X"] {
            try write(config: #"{"auto_map": {"AutoTokenizer": ["\#(reference)", null]}}"#)
            XCTAssertEqual(try Tokenizer(folder: folder).encode("abc", addSpecialTokens: false), [257], reference)
        }
        try write(config: #"{"auto_map": {"AutoTokenizer": ["tokenization_other.TikTokenTokenizer", null]}}"#)
        try Data("pat_str = \"|\".join([r'.'])\nnum_reserved_special_tokens = 0\n".utf8)
            .write(to: folder.appendingPathComponent("tokenization_other.py"))
        XCTAssertEqual(try Tokenizer(folder: folder).encode("abc", addSpecialTokens: false), [97, 98, 99],
                       "the named module's pattern (one character per piece), not the other file's")
    }

    func testTokenizerJSONWinsWhenBothAreThere() throws {
        try write()
        try Data(#"{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "pre_tokenizer": null}"#.utf8)
            .write(to: folder.appendingPathComponent("tokenizer.json"))
        XCTAssertEqual(try Tokenizer(folder: folder).encode("a", addSpecialTokens: false), [0])
    }

    func testBadFoldersAreRefusedInOneLine() throws {
        func refused(_ expected: String, file: StaticString = #filePath, line: UInt = #line) {
            XCTAssertThrowsError(try Tokenizer(folder: folder), file: file, line: line) { error in
                XCTAssertTrue("\(error)".contains(expected), "\(error)", file: file, line: line)
                XCTAssertFalse("\(error)".contains("\n"), "one line", file: file, line: line)
            }
        }
        try write(lines: "YQ== 0\nnot-a-line\n")
        refused("line 2 is not \"base64 rank\"")
        try write(lines: (0..<256).map { "\(Data([UInt8($0)]).base64EncodedString()) \($0)" }.joined(separator: "\n") + "\nYWI= 3\n")
        refused("rank 3 appears twice")
        try write(lines: "YQ== 0\nYg== 2\n")
        refused("no token of rank 1")
        try write(lines: "YQ== 0\n", config: "{}")
        refused("no token for the byte 0x00")
        try write(ranks: ["ab", "ab"])
        refused("appears twice")
        try write(module: "class TikTokenTokenizer:\n    num_reserved_special_tokens = 4\n")
        refused("no `pat_str = \"|\".join([...])`")
        try write(module: "pat_str = \"|\".join([PAT_A, PAT_B])\nnum_reserved_special_tokens = 4\n")
        refused("pat_str joins something other than raw string literals")
        try write(module: "pat_str = \"|\".join([r'(?<=a)b'])\nnum_reserved_special_tokens = 4\n")
        refused("lookbehind")
        try write(config: #"{"added_tokens_decoder": {"300": {"content": "<x>"}}, "auto_map": {"AutoTokenizer": ["tokenization_test.TikTokenTokenizer", null]}}"#)
        refused("a tiktoken folder's added tokens are its control ids 259..<265")
        try FileManager.default.removeItem(at: folder.appendingPathComponent("tokenization_test.py"))
        try write(config: "{}", moduleName: "tokenization_a.py")
        try Data("x".utf8).write(to: folder.appendingPathComponent("tokenization_b.py"))
        refused("several candidates (tokenization_a.py, tokenization_b.py) and none named by auto_map.AutoTokenizer")
        try FileManager.default.removeItem(at: folder.appendingPathComponent("tokenization_a.py"))
        try FileManager.default.removeItem(at: folder.appendingPathComponent("tokenization_b.py"))
        refused("the folder has no tokenization_*.py")
        try FileManager.default.removeItem(at: folder.appendingPathComponent("tiktoken.model"))
        XCTAssertFalse(Tokenizer.isPresent(inFolder: folder.path))
        refused("tokenizer.json (or tiktoken.model)")
    }
}
