import Foundation
import TestSupport
import XCTest
@testable import StructuredOutput

/// JSONGrammar against Python's `json` module (scripts/json-grammar-cases.py): the same verdict on
/// whole texts — valid JSON objects written by json.dumps in many styles, their random mutations, and
/// hand-picked edge cases (numbers, literals, escapes, UTF-8 boundaries, the depth and whitespace
/// bounds) — and every prefix the grammar accepts completes to what json.loads takes as an object.
final class JSONGrammarTests: XCTestCase {
    private struct Case: Decodable {
        let text: String
        let object: Bool
        let compact: Bool
        var bytes: [UInt8] { [UInt8](Data(base64Encoded: text)!) }
    }

    private static func referenceCases() throws -> [Case] {
        let out = try FixtureCommand.run(["python3", "scripts/json-grammar-cases.py", "cases", "4000", "29"])
        return try JSONDecoder().decode([Case].self, from: Data(out.utf8))
    }

    private static func isObject(_ bytes: [UInt8], anyWhitespace: Bool = true) -> Bool {
        var grammar = JSONGrammar(anyWhitespace: anyWhitespace)
        return grammar.accept(bytes) && grammar.isComplete
    }

    func testVerdictsMatchPythonJSON() throws {
        let cases = try Self.referenceCases()
        XCTAssertGreaterThanOrEqual(cases.count, 4000)
        XCTAssertGreaterThan(cases.filter(\.object).count, 1000, "the reference cases hold valid objects")
        XCTAssertGreaterThan(cases.filter { !$0.object }.count, 1000, "and invalid texts")
        var mismatches: [String] = []
        for c in cases where Self.isObject(c.bytes) != c.object {
            mismatches.append("\(c.object ? "refused" : "accepted") \(String(decoding: c.bytes.prefix(80), as: UTF8.self).debugDescription)")
        }
        XCTAssertEqual(mismatches.count, 0, mismatches.prefix(10).joined(separator: "\n"))
        // Without whitespace (vLLM's disable_any_whitespace): the objects with none outside strings.
        XCTAssertGreaterThan(cases.filter(\.compact).count, 200)
        for c in cases where Self.isObject(c.bytes, anyWhitespace: false) != c.compact {
            mismatches.append("without whitespace \(c.compact ? "refused" : "accepted") \(String(decoding: c.bytes.prefix(80), as: UTF8.self).debugDescription)")
        }
        XCTAssertEqual(mismatches.count, 0, mismatches.prefix(10).joined(separator: "\n"))
    }

    /// The shortest way this test knows to close what `state` has open (a fixed byte preference).
    private static func completion(after state: JSONGrammar) -> [UInt8]? {
        var grammar = state
        var out: [UInt8] = []
        let preference = Array("\"}]:0ruelsa".utf8) + [0x80, 0x90, 0xA0]
        for _ in 0..<4096 {
            if grammar.isComplete { return out }
            guard let next = preference.first(where: { var g = grammar; return g.accept($0) }) else { return nil }
            _ = grammar.accept(next)
            out.append(next)
        }
        return nil
    }

    func testEveryAcceptedPrefixCompletesToAnObject() throws {
        var pairs: [[String]] = []
        for (n, c) in try Self.referenceCases().enumerated() {
            let bytes = c.bytes
            var grammar = JSONGrammar()
            // Every prefix of the first 600 texts; every 7th of the rest (the check stays quick).
            for (i, byte) in bytes.enumerated() {
                guard grammar.accept(byte) else { break }
                guard n < 600 || i % 7 == 0 else { continue }
                guard let tail = Self.completion(after: grammar) else {
                    return XCTFail("no completion after \(String(decoding: bytes[...i], as: UTF8.self).debugDescription)")
                }
                pairs.append([Data(bytes[...i]).base64EncodedString(), Data(tail).base64EncodedString()])
            }
        }
        XCTAssertGreaterThan(pairs.count, 50_000)
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("json-grammar-\(getpid()).json")
        defer { try? FileManager.default.removeItem(at: file) }
        try JSONSerialization.data(withJSONObject: pairs).write(to: file)
        let bad = try JSONDecoder().decode([Int].self, from: Data(try FixtureCommand.run(["python3", "scripts/json-grammar-cases.py", "check", file.path]).utf8))
        XCTAssertEqual(bad.count, 0, bad.prefix(5).map { "\(pairs[$0])" }.joined(separator: "\n"))
    }

    func testRefusalLeavesTheStateAndDoneTakesNothing() {
        var grammar = JSONGrammar()
        XCTAssertTrue(grammar.accept(Array(#"{"a":12"#.utf8)))
        let before = grammar
        XCTAssertFalse(grammar.accept(UInt8(ascii: "x")))
        XCTAssertEqual(grammar, before, "a refused byte changes nothing")
        XCTAssertTrue(grammar.accept(UInt8(ascii: "}")))
        XCTAssertTrue(grammar.isComplete)
        for byte in [UInt8(ascii: " "), UInt8(ascii: "\n"), UInt8(ascii: "{"), UInt8(ascii: "}")] {
            XCTAssertFalse(grammar.accept(byte), "nothing follows the root object")
        }
    }
}
