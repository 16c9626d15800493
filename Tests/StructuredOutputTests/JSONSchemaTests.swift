import Foundation
import TestSupport
import XCTest
@testable import StructuredOutput

/// JSONSchema / JSONSchemaState against the `jsonschema` package (scripts/json-schema-cases.py): the same
/// verdict on instances of fifteen schemas — objects with required and optional properties, enums and
/// consts, a recursive $ref, unions of types, root scalars, pydantic's shapes, objects told apart by
/// their first property, strings with patterns, lengths and every served format, number bounds, tuples,
/// dicts and any values — drawn by
/// hypothesis-jsonschema and a generator of the script's own, written with random whitespace, and their
/// random mutations; every prefix the state accepts completes to an instance jsonschema takes, and so does
/// every random walk of the bytes the state accepts.
final class JSONSchemaTests: XCTestCase {
    private struct Reference: Decodable {
        struct Case: Decodable {
            let schema: Int
            let text: String
            let valid: Bool
            let compact: Bool
            var bytes: [UInt8] { [UInt8](Data(base64Encoded: text)!) }
        }
        let schemas: [String]
        let cases: [Case]
    }

    /// The schemas compiled as served, and without whitespace; the cases.
    private static func reference() throws -> (schemas: [JSONSchema], compact: [JSONSchema], cases: [Reference.Case]) {
        let out = try FixtureCommand.run([try ReferencePython.path(), "scripts/json-schema-cases.py", "cases", "60", "30"])
        let reference = try JSONDecoder().decode(Reference.self, from: Data(out.utf8))
        return (try reference.schemas.map { try JSONSchema(json: Array($0.utf8)) },
                try reference.schemas.map { try JSONSchema(json: Array($0.utf8), anyWhitespace: false) }, reference.cases)
    }

    private static func accepts(_ bytes: [UInt8], _ schema: JSONSchema) -> Bool {
        var state = JSONSchemaState()
        return state.accept(bytes, in: schema) && state.canEnd(in: schema)
    }

    func testVerdictsMatchJSONSchema() throws {
        let (schemas, compact, cases) = try Self.reference()
        XCTAssertGreaterThan(cases.filter(\.valid).count, 600)
        XCTAssertGreaterThan(cases.filter { !$0.valid }.count, 600)
        for s in schemas.indices {
            XCTAssertTrue(cases.contains { $0.schema == s && $0.valid }, "schema \(s) has valid instances")
        }
        var mismatches: [String] = []
        for c in cases where Self.accepts(c.bytes, schemas[c.schema]) != c.valid {
            mismatches.append("schema \(c.schema) \(c.valid ? "refused" : "accepted") \(String(decoding: c.bytes.prefix(120), as: UTF8.self).debugDescription)")
        }
        XCTAssertEqual(mismatches.count, 0, mismatches.prefix(10).joined(separator: "\n"))
        // Without whitespace (vLLM's disable_any_whitespace): the valid texts with none outside strings.
        XCTAssertGreaterThan(cases.filter(\.compact).count, 300)
        for c in cases where Self.accepts(c.bytes, compact[c.schema]) != c.compact {
            mismatches.append("schema \(c.schema) without whitespace \(c.compact ? "refused" : "accepted") \(String(decoding: c.bytes.prefix(120), as: UTF8.self).debugDescription)")
        }
        XCTAssertEqual(mismatches.count, 0, mismatches.prefix(10).joined(separator: "\n"))
    }

    /// A short way to finish what `state` has open: the first byte of a fixed preference order each time.
    private static func completion(after state: JSONSchemaState, _ schema: JSONSchema) -> [UInt8]? {
        var state = state
        var out: [UInt8] = []
        let preference = Array("\"}]:,10".utf8) + (0x21...0x7E).map { UInt8($0) } + [0x80, 0x90, 0xA0]
        // Inside a string (a rule may want letters, digits or é before the quote): the quote, then those.
        let inString = Array("\"xA-0a".utf8) + [0xC3, 0xA9] + preference
        for _ in 0..<4096 {
            if state.canEnd(in: schema) { return out }
            guard let next = (state.lexer == .string ? inString : preference).first(where: { var s = state; return s.accept($0, in: schema) })
            else { return nil }
            _ = state.accept(next, in: schema)
            out.append(next)
        }
        return nil
    }

    func testEveryAcceptedPrefixCompletesToAnInstance() throws {
        let (schemas, _, cases) = try Self.reference()
        var triples: [[Any]] = []
        for (n, c) in cases.enumerated() {
            let schema = schemas[c.schema]
            var state = JSONSchemaState()
            for (i, byte) in c.bytes.enumerated() {
                guard state.accept(byte, in: schema) else { break }
                guard n % 3 == 0 || i % 5 == 0 else { continue }
                guard let tail = Self.completion(after: state, schema) else {
                    return XCTFail("schema \(c.schema): no completion after \(String(decoding: c.bytes[...i], as: UTF8.self).debugDescription)")
                }
                triples.append([c.schema, Data(c.bytes[...i]).base64EncodedString(), Data(tail).base64EncodedString()])
            }
        }
        XCTAssertGreaterThan(triples.count, 10_000)
        // Random walks in the schemas of ruled strings: any byte the state takes, until it may end (or a
        // length where the completion finishes it).
        var random = SplitMix64(seed: 7)
        let alphabet = (0x20...0x7E).map { UInt8($0) } + [0x0A, 0xC3, 0xA9]
        for s in 9..<schemas.count {
            for _ in 0..<300 {
                var state = JSONSchemaState(), walk: [UInt8] = []
                while walk.count < 400 {
                    if state.canEnd(in: schemas[s]) && Int.random(in: 0..<8, using: &random) == 0 { break }
                    let taken = alphabet.filter { var t = state; return t.accept($0, in: schemas[s]) }
                    guard let byte = taken.randomElement(using: &random) else { break }
                    _ = state.accept(byte, in: schemas[s])
                    walk.append(byte)
                }
                guard let tail = Self.completion(after: state, schemas[s]) else {
                    return XCTFail("schema \(s): no completion after the walk \(String(decoding: walk, as: UTF8.self).debugDescription)")
                }
                triples.append([s, Data(walk).base64EncodedString(), Data(tail).base64EncodedString()])
            }
        }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("json-schema-\(getpid()).json")
        defer { try? FileManager.default.removeItem(at: file) }
        try JSONSerialization.data(withJSONObject: triples).write(to: file)
        let out = try FixtureCommand.run([try ReferencePython.path(), "scripts/json-schema-cases.py", "check", file.path])
        let bad = try JSONDecoder().decode([Int].self, from: Data(out.utf8))
        XCTAssertEqual(bad.count, 0, bad.prefix(5).map { "\(triples[$0])" }.joined(separator: "\n"))
    }

    func testRefusedSchemasNameTheKeyword() {
        func refusal(_ json: String) -> String? {
            do { _ = try JSONSchema(json: Array(json.utf8)); return nil } catch { return error.path }
        }
        XCTAssertNil(refusal(#"{"type": "object", "properties": {"a": {"type": "string", "description": "x"}}, "required": ["a"]}"#))
        XCTAssertNil(refusal(#"{"type": "string", "pattern": "^a"}"#))
        XCTAssertEqual(refusal(#"{"type": "string", "pattern": "(a"}"#), "pattern")
        XCTAssertEqual(refusal(#"{"type": "string", "pattern": "^a|b$"}"#), "pattern", "anchors around a top-level |")
        XCTAssertNil(refusal(#"{"type": "string", "pattern": "a", "maxLength": 3}"#))
        XCTAssertNil(refusal(#"{"type": "string", "pattern": "^(ab)+$", "minLength": 1, "maxLength": 5}"#), "minLength implied by the pattern")
        XCTAssertNil(refusal(#"{"type": "string", "pattern": "^(ab)+$", "minLength": 3, "maxLength": 5}"#), "both bounds: abab")
        XCTAssertEqual(refusal(#"{"type": "string", "pattern": "^(ab)+$", "minLength": 5, "maxLength": 5}"#), "minLength", "no match of 5")
        XCTAssertEqual(refusal(#"{"type": "string", "pattern": "^[a-z]{0,900}[0-9]+$", "minLength": 2, "maxLength": 60000}"#), "minLength",
                       "both bounds on a pattern too large to tabulate")
        XCTAssertEqual(refusal(#"{"type": "string", "pattern": "^a{3}$", "maxLength": 2}"#), "maxLength", "no match fits")
        XCTAssertEqual(refusal(#"{"type": "string", "format": "date", "maxLength": 9}"#), "maxLength", "no date fits")
        XCTAssertNil(refusal(#"{"type": "string", "format": "date-time"}"#))
        XCTAssertNil(refusal(#"{"type": "string", "format": "password", "minLength": 8}"#))
        XCTAssertEqual(refusal(#"{"type": "string", "format": "uri-reference"}"#), "format")
        XCTAssertEqual(refusal(#"{"type": "string", "format": 1}"#), "format")
        XCTAssertEqual(refusal(#"{"type": "string", "format": "uuid", "pattern": "^a"}"#), "format")
        XCTAssertEqual(refusal(#"{"type": "string", "minLength": 4, "maxLength": 3}"#), "minLength")
        XCTAssertNil(refusal(#"{"type": "string", "minLength": 1, "maxLength": 3}"#))
        XCTAssertEqual(refusal(#"{"type": "number", "multipleOf": 0.5}"#), "multipleOf")
        XCTAssertEqual(refusal(#"{"type": "object", "properties": {"a": {"type": "string", "maxLength": -1}}}"#), "properties.a.maxLength")
        XCTAssertNil(refusal(#"{"type": "object", "additionalProperties": true}"#))
        XCTAssertEqual(refusal(#"{"type": "object", "additionalProperties": 3}"#), "additionalProperties")
        XCTAssertNil(refusal(#"{"type": "object", "additionalProperties": {"type": "integer"}}"#))
        XCTAssertEqual(refusal(#"{"type": "object", "properties": {"a": {"type": "string"}}, "required": ["b"]}"#), "required")
        XCTAssertNil(refusal(#"{"type": "array"}"#), "items of any value")
        XCTAssertNil(refusal(#"{"type": "array", "prefixItems": [{"type": "integer"}, {"type": "string"}], "minItems": 2}"#))
        XCTAssertEqual(refusal(#"{"type": "array", "prefixItems": [{"type": "integer"}], "minItems": 2}"#), "minItems", "no schema for item 2")
        XCTAssertEqual(refusal(#"{"type": "array", "prefixItems": {"type": "integer"}}"#), "prefixItems")
        XCTAssertEqual(refusal(#"{"type": "array", "items": {"type": "string"}, "minItems": 3, "maxItems": 2}"#), "minItems")
        XCTAssertEqual(refusal(#"{"type": "date"}"#), "type")
        XCTAssertEqual(refusal(##"{"$ref": "#/components/schemas/A"}"##), "$ref")
        XCTAssertEqual(refusal(#"{"anyOf": [{"type": "string"}, {"enum": ["a"]}]}"#), "anyOf")
        XCTAssertNil(refusal(#"{"anyOf": [{"type": "integer"}, {"type": "number"}]}"#), "int | float: one number")
        XCTAssertEqual(refusal(#"{"anyOf": [{"type": "integer", "minimum": 0}, {"type": "number"}]}"#), "anyOf", "a bounded number beside another")
        XCTAssertEqual(refusal(#"{"anyOf": [{"type": "object", "properties": {"a": {"enum": ["x"]}}, "required": ["a"]}, {"type": "object", "properties": {"a": {"enum": ["x"]}}, "required": ["a"]}]}"#),
                       "anyOf", "two objects with the same tag")
        XCTAssertEqual(refusal(#"{"anyOf": [{"type": "object", "properties": {"a": {"enum": ["x"]}}}, {"type": "object", "properties": {"a": {"enum": ["y"]}}}]}"#),
                       "anyOf", "a tag that is not required")
        XCTAssertEqual(refusal(#"{"enum": [1, "a"], "type": "boolean"}"#), "enum")
        XCTAssertEqual(refusal(##"{"$ref": "#"}"##), "$ref", "a reference to itself with no byte between")
        XCTAssertEqual(refusal(##"{"anyOf": [{"$ref": "#"}, {"type": "string"}]}"##), "$ref")
        XCTAssertNil(refusal(##"{"type": "array", "items": {"$ref": "#"}}"##), "recursion through a container is fine")
        XCTAssertNil(refusal(#"{}"#), "any value")
        XCTAssertNil(refusal(#"true"#), "any value")
        XCTAssertEqual(refusal(#"false"#), "")
        XCTAssertEqual(refusal(#"{"properties": {"a": {"type": "string"}}}"#), "properties", "no type")
        XCTAssertEqual(refusal(#"{"anyOf": [{}, {"type": "string"}]}"#), "anyOf", "any value beside another alternative")
        XCTAssertEqual(refusal(#"{"type": "object""#), "")
    }

    func testAnUnboundedArrayCountsPastItsFieldWithoutHarm() throws {
        let schema = try JSONSchema(json: Array(#"{"type": "array", "items": {"type": "integer"}, "minItems": 2}"#.utf8))
        var state = JSONSchemaState()
        XCTAssertTrue(state.accept(UInt8(ascii: "["), in: schema))
        for i in 0..<(JSONSchema.maxItemsBound + 10) {
            XCTAssertTrue(state.accept(Array((i == 0 ? "7" : ",7").utf8), in: schema))
        }
        XCTAssertTrue(state.accept(UInt8(ascii: "]"), in: schema))
        XCTAssertTrue(state.canEnd(in: schema))
    }

    func testNestingIsBoundedAndNothingFollowsTheValue() throws {
        let schema = try JSONSchema(json: Array(##"{"$defs": {"list": {"type": "array", "items": {"$ref": "#/$defs/list"}}}, "$ref": "#/$defs/list"}"##.utf8))
        var state = JSONSchemaState()
        XCTAssertTrue(state.accept(Array(repeating: UInt8(ascii: "["), count: JSONSchemaState.maxDepth), in: schema))
        XCTAssertFalse(state.accept(UInt8(ascii: "["), in: schema), "no deeper than maxDepth")
        XCTAssertTrue(state.accept(Array(repeating: UInt8(ascii: "]"), count: JSONSchemaState.maxDepth), in: schema))
        XCTAssertTrue(state.canEnd(in: schema))
        XCTAssertFalse(state.canContinue)
        XCTAssertFalse(state.accept(UInt8(ascii: " "), in: schema))
    }
}
