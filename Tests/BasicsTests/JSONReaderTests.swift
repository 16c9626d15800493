import Basics
import Foundation
import XCTest

/// JSONReader against Foundation's JSONDecoder (an independent parser) on valid documents, and its
/// own rules where they differ from or go beyond it: key order and duplicates, the nesting bound,
/// lone surrogates, error offsets.
final class JSONReaderTests: XCTestCase {
    /// A tree that keeps everything the reader reports.
    indirect enum Tree: Equatable {
        case null, bool(Bool), number(Double, integer: Int?), string(String), array([Tree]), object([Pair])
        struct Pair: Equatable { let key: String, value: Tree }

        /// As the reference sees it: numbers as Double, objects unordered.
        var reference: Reference {
            switch self {
            case .null: return .null
            case .bool(let b): return .bool(b)
            case .number(let value, _): return .number(value)
            case .string(let s): return .string(s)
            case .array(let items): return .array(items.map(\.reference))
            case .object(let pairs): return .object(Dictionary(pairs.map { ($0.key, $0.value.reference) }, uniquingKeysWith: { $1 }))
            }
        }
    }

    enum Builder: JSONTreeBuilder {
        static func null() -> Tree { .null }
        static func bool(_ value: Bool) -> Tree { .bool(value) }
        static func number(_ value: Double, integer: Int?) -> Tree { .number(value, integer: integer) }
        static func string(_ value: String) -> Tree { .string(value) }
        static func array(_ items: [Tree]) -> Tree { .array(items) }
        static func object(_ pairs: [(key: String, value: Tree)]) -> Tree { .object(pairs.map { Tree.Pair(key: $0.key, value: $0.value) }) }
    }

    /// What Foundation's JSONDecoder reads.
    indirect enum Reference: Decodable, Equatable {
        case null, bool(Bool), number(Double), string(String), array([Reference]), object([String: Reference])
        init(from decoder: Decoder) throws {
            let c = try decoder.singleValueContainer()
            if c.decodeNil() { self = .null }
            else if let b = try? c.decode(Bool.self) { self = .bool(b) }
            else if let d = try? c.decode(Double.self) { self = .number(d) }
            else if let s = try? c.decode(String.self) { self = .string(s) }
            else if let a = try? c.decode([Reference].self) { self = .array(a) }
            else { self = .object(try c.decode([String: Reference].self)) }
        }
    }

    func parse(_ text: String, maxDepth: Int = 64) throws(JSONSyntaxError) -> Tree {
        try JSONReader.parse(Array(text.utf8), maxDepth: maxDepth, as: Builder.self)
    }

    func testValidDocumentsMatchFoundation() throws {
        let documents = [
            #"{"a": 1, "b": [true, false, null], "c": {"d": -2.5e-3, "e": "x\ty\n\"z\" \\ \/"}}"#,
            #"[0, -0, 1e3, 1E-3, 123456789012, 3.141592653589793, -1.5e300, 2.2250738585072014e-308]"#,
            #"["\u00e9\u4e2d\ud83d\ude00", "é中😀", "\u0000\u001f", ""]"#,
            " \t\r\n[ { } , [ ] , \"\" ] \n",
            #"{"nested": [[[[[{"deep": [1]}]]]]], "unicode key \u00fc": "v"}"#,
            "42", "\"just a string\"", "null", "true",
        ]
        for text in documents {
            let ours = try parse(text)
            let theirs = try JSONDecoder().decode(Reference.self, from: Data(text.utf8))
            XCTAssertEqual(ours.reference, theirs, text)
        }
    }

    func testObjectsKeepOrderAndDuplicates() throws {
        XCTAssertEqual(try parse(#"{"z": 1, "a": 2, "z": 3}"#),
                       .object([.init(key: "z", value: .number(1, integer: 1)), .init(key: "a", value: .number(2, integer: 2)),
                                .init(key: "z", value: .number(3, integer: 3))]))
        // Integers as Int (the short ones without a String, the long ones through Int(String)), others Double only.
        XCTAssertEqual(try parse("[1, 1.0, 1e2, -7, 123456789012345678, 1234567890123456789, 12345678901234567890]"),
                       .array([.number(1, integer: 1), .number(1, integer: nil), .number(100, integer: nil), .number(-7, integer: -7),
                               .number(123456789012345678, integer: 123456789012345678),
                               .number(1234567890123456789, integer: 1234567890123456789),
                               .number(12345678901234567890, integer: nil)]))
    }

    /// A high surrogate joins only a following low one; otherwise each escape is U+FFFD on its own.
    func testSurrogates() throws {
        XCTAssertEqual(try parse(#""\ud83d\ude00""#), .string("😀"))
        XCTAssertEqual(try parse(#""\udaaa\udaaa""#), .string("\u{FFFD}\u{FFFD}"))
        XCTAssertEqual(try parse(#""\ude00x""#), .string("\u{FFFD}x"))
        XCTAssertEqual(try parse(#""\ud83dx""#), .string("\u{FFFD}x"))
    }

    func testNestingBound() throws {
        XCTAssertNoThrow(try parse(String(repeating: "[", count: 4) + String(repeating: "]", count: 4), maxDepth: 4))
        XCTAssertEqual(error(String(repeating: "[", count: 5) + String(repeating: "]", count: 5), maxDepth: 4),
                       JSONSyntaxError(detail: "nested more than 4 levels deep", offset: 4))
        // A million brackets: an error, not a stack overflow.
        XCTAssertEqual(error(String(repeating: "[", count: 1_000_000), maxDepth: 512)?.detail, "nested more than 512 levels deep")
    }

    func testErrorsNameWhatAndWhere() {
        let cases: [(String, String, Int)] = [
            ("", "unexpected end", 0),
            ("[1] x", "trailing characters", 4),
            (#"{"a" 1}"#, "expected ':'", 5),
            (#"{"a": 1,}"#, "expected a key", 8),
            (#"{1: 2}"#, "expected a key", 1),
            ("[1 2]", "expected ',' or ']'", 3),
            (#"{"a": 1"#, "unterminated object", 7),
            ("[1,", "unexpected end", 3),
            (#""abc"#, "unterminated string", 4),
            (#""a\qb""#, "invalid \\escape", 2),
            (#""\u12g4""#, "bad \\u escape", 5),
            (#""\u12""#, "short \\u escape", 3),
            ("tru", "expected true", 0),
            ("[1-2]", "bad number 1-2", 1),
            ("@", "unexpected character", 0),
        ]
        for (text, detail, offset) in cases {
            XCTAssertEqual(error(text), JSONSyntaxError(detail: detail, offset: offset), text)
        }
    }

    private func error(_ text: String, maxDepth: Int = 64) -> JSONSyntaxError? {
        do { _ = try parse(text, maxDepth: maxDepth); return nil } catch { return error }
    }
}
