import TestSupport
import XCTest
@testable import StructuredOutput

/// The token mask (sorted vocabulary, shared-prefix walk) against feeding every token's bytes to the
/// grammar one by one, over a vocabulary of many shapes: every single byte, random multi-byte pieces of
/// JSON, UTF-8 sequences cut anywhere, duplicates of the same bytes under two ids, empty tokens.
final class JSONObjectConstraintTests: XCTestCase {
    static let eos = 9_999

    /// Ids 0..<256 are the single bytes (so a test can advance byte by byte), then random pieces.
    static func vocabulary(seed: UInt64, pieces: Int) -> (TokenVocabulary, [[UInt8]]) {
        var rng = SplitMix64(seed: seed)
        let alphabet = Array(#"{}[]:," \"\\-+.eE0123456789truefalsn/u\#n\#tabcxyz"#.utf8)
            + Array("é日本😀\u{7f}".utf8) + [0x80, 0xBF, 0xC0, 0xED, 0xA0, 0xF4, 0x90, 0x00, 0x1F]
        var tokens = (0..<256).map { [UInt8($0)] }
        for _ in 0..<pieces {
            let length = 1 + Int(rng.next() % 9)
            tokens.append((0..<length).map { _ in alphabet[Int(rng.next() % UInt64(alphabet.count))] })
        }
        tokens.append(Array(#"{"a":"#.utf8)); tokens.append(Array(#"{"a":"#.utf8))   // same bytes, two ids
        tokens.append([])                                                                  // never allowed
        let vocabulary = TokenVocabulary(vocabSize: tokens.count, tokens: tokens.enumerated().map { ($0.offset, $0.element) })
        return (vocabulary, tokens)
    }

    static func allowed<G>(_ constraint: GrammarConstraint<G>) -> Set<Int> {
        var set = Set<Int>()
        constraint.forEachAllowed { XCTAssertTrue(set.insert($0).inserted, "token \($0) offered twice") }
        return set
    }

    /// `constraint`'s mask after each prefix of `text` (before any byte, then after each) equals feeding every
    /// token's bytes to the grammar from the same state, with EOS where the text is whole.
    static func assertMaskEqualsFeeding<G: ByteGrammar>(_ text: String, start: G, rules: G.Rules, constraint: GrammarConstraint<G>,
                                                       tokens: [[UInt8]], file: StaticString = #filePath, line: UInt = #line) {
        var state = start
        for i in 0...text.utf8.count {
            if i > 0 {
                let byte = Array(text.utf8)[i - 1]
                guard state.accept(byte, in: rules) else { XCTFail("\(text) is not a prefix of a match", file: file, line: line); return }
                constraint.advance(Int(byte))
            }
            var expected: Set<Int> = state.canEnd(in: rules) ? [eos] : []
            for (id, bytes) in tokens.enumerated() where !bytes.isEmpty {
                var s = state
                if bytes.allSatisfy({ s.accept($0, in: rules) }) { expected.insert(id) }
            }
            XCTAssertEqual(allowed(constraint), expected, "after \(i) bytes of \(text)", file: file, line: line)
        }
    }

    func testMaskEqualsTokenByTokenFeeding() {
        let (vocabulary, tokens) = Self.vocabulary(seed: 7, pieces: 6000)
        let texts = [#"{"key": [1, -2.5e+3, true, null, {"x": "é\u00e9\\"}], "b":{}}"#, #"{"日本😀": fals"#, "{\n  \"a\": [[[ ",
                     #"{"a": "\u12"#, #"{"a": 0"#, #"{"a": -"#]
        var states = 0
        for text in texts {
            let constraint = JSONObjectConstraint(vocabulary: vocabulary, eosTokenIDs: [Self.eos])
            var grammar = JSONGrammar()
            for i in 0...text.utf8.count {   // the state before any byte, then after each
                if i > 0 {
                    let byte = Array(text.utf8)[i - 1]
                    guard grammar.accept(byte) else { XCTFail("the test text \(text) is not a JSON prefix"); break }
                    constraint.advance(Int(byte))
                }
                states += 1
                var expected: Set<Int> = grammar.isComplete ? [Self.eos] : []
                for (id, bytes) in tokens.enumerated() where !bytes.isEmpty && !grammar.isComplete {
                    var g = grammar
                    if g.accept(bytes) { expected.insert(id) }
                }
                XCTAssertEqual(Self.allowed(constraint), expected, "after \(i) bytes of \(text)")
            }
        }
        XCTAssertGreaterThan(states, 100)
        XCTAssertGreaterThan(vocabulary.stringContent.content.count, 500, "the inside-a-string shortcut is exercised")
        XCTAssertGreaterThan(vocabulary.stringContent.rest.count, 500)
    }

    /// The schema's mask, after each prefix of each text, equals feeding every token's bytes to the state;
    /// the number of states compared.
    private func assertSchemaMaskEqualsFeeding(_ schemaText: String, _ texts: [String], seed: UInt64) throws -> Int {
        let (vocabulary, tokens) = Self.vocabulary(seed: seed, pieces: 6000)
        let schema = try JSONSchema(json: Array(schemaText.utf8))
        var states = 0
        for text in texts {
            let constraint = JSONSchemaConstraint(schema: schema, vocabulary: vocabulary, eosTokenIDs: [Self.eos])
            var state = JSONSchemaState()
            for i in 0...text.utf8.count {
                if i > 0 {
                    let byte = Array(text.utf8)[i - 1]
                    guard state.accept(byte, in: schema) else { XCTFail("\(text) is not a prefix of an instance at \(i)"); break }
                    constraint.advance(Int(byte))
                }
                states += 1
                var expected: Set<Int> = state.canEnd(in: schema) ? [Self.eos] : []
                for (id, bytes) in tokens.enumerated() where !bytes.isEmpty && state.canContinue {
                    var s = state
                    if s.accept(bytes, in: schema) { expected.insert(id) }
                }
                XCTAssertEqual(Self.allowed(constraint), expected, "after \(i) bytes of \(text)")
            }
        }
        return states
    }

    /// The same for a JSON Schema's states: keys, enum literals (a number one that another extends),
    /// free strings, nested arrays.
    func testSchemaMaskEqualsTokenByTokenFeeding() throws {
        let states = try assertSchemaMaskEqualsFeeding(#"""
            {"type": "object", "properties": {"name": {"type": "string"}, "n": {"enum": [1, 12, "x"]},
             "list": {"type": "array", "items": {"type": ["number", "null"]}, "maxItems": 2}, "ok": {"type": "boolean"}},
             "required": ["name", "ok"]}
            """#, [#"{"name": "a\u00e9b", "n": 12, "list": [1.5e3, null], "ok": true}"#, #"{"name":"é","n":1"#, #"{"name":"","list":[-"#],
            seed: 5)
        XCTAssertGreaterThan(states, 80)
    }

    /// Strings with rules (a pattern, lengths, formats), a bounded number and keys beyond the listed ones: the
    /// string-content shortcut is off there, and every token is walked through the length count, the
    /// automaton or the key match.
    func testRuledStringMaskEqualsTokenByTokenFeeding() throws {
        let states = try assertSchemaMaskEqualsFeeding(#"""
            {"type": "object", "properties": {"code": {"type": "string", "pattern": "^[a-c]{2}\\d+$"},
             "name": {"type": "string", "minLength": 2, "maxLength": 4}, "note": {"type": "string", "pattern": "é|x\"y"},
             "day": {"type": "string", "format": "date"}, "host": {"type": "string", "format": "hostname", "maxLength": 6},
             "word": {"type": "string", "pattern": "^(ab)+$", "minLength": 3, "maxLength": 7}, "n": {"type": "number", "exclusiveMinimum": -2, "maximum": 300},
             "more": {"type": "object", "properties": {"on": {"type": "boolean"}}, "additionalProperties": {"type": "integer"}}},
             "required": ["code", "name", "note", "day", "host", "word", "n", "more"]}
            """#, [#"{"code": "ab12", "name": "é\t日x", "note": "1x\"y2é", "day": "2024-02-29", "host": "a-b.cd", "word": "ababab", "n": -1.25, "more": {"on": true, "o": 1, "日本": -2}}"#,
                   #"{"code":"a"#, #"{"code":"ab1","name":"ab","note":"é","day":"1900-02-2"#], seed: 9)
        XCTAssertGreaterThan(states, 100)
    }

    func testCompleteObjectAllowsOnlyEOSAndARefusedTokenEndsTheWalk() {
        let (vocabulary, _) = Self.vocabulary(seed: 3, pieces: 500)
        let constraint = JSONObjectConstraint(vocabulary: vocabulary, eosTokenIDs: [Self.eos])
        for byte in #"{"a":[]}"#.utf8 { constraint.advance(Int(byte)) }
        XCTAssertTrue(constraint.canEnd)
        XCTAssertEqual(Self.allowed(constraint), [Self.eos])

        // An EOS id the vocabulary also spells (here `{`) is EOS only, never the text it spells.
        let eosAsText = JSONObjectConstraint(vocabulary: vocabulary, eosTokenIDs: [Int(UInt8(ascii: "{"))])
        XCTAssertFalse(Self.allowed(eosAsText).contains(Int(UInt8(ascii: "{"))))
        XCTAssertFalse(Self.allowed(eosAsText).isEmpty)

        let broken = JSONObjectConstraint(vocabulary: vocabulary, eosTokenIDs: [Self.eos])
        broken.advance(Int(UInt8(ascii: "x")))   // not a JSON object's start: nothing is allowed after it
        XCTAssertEqual(Self.allowed(broken), [])
        XCTAssertFalse(broken.canEnd)
    }

    func testVocabularyKeepsIdsAndBytes() {
        let (vocabulary, tokens) = Self.vocabulary(seed: 11, pieces: 300)
        XCTAssertEqual(vocabulary.vocabSize, tokens.count)
        XCTAssertEqual(vocabulary.count, tokens.count - 1, "the empty token is left out")
        for (id, bytes) in tokens.enumerated() { XCTAssertEqual(Array(vocabulary.bytes(of: id)), bytes) }
        XCTAssertEqual(Array(vocabulary.bytes(of: -1)), [])
        XCTAssertEqual(Array(vocabulary.bytes(of: tokens.count)), [])
    }
}
