import Foundation
import TestSupport
import XCTest
@testable import StructuredOutput

/// RegexAutomaton against Python's `re` (scripts/regex-cases.py): the same whole-text verdict
/// (`re.fullmatch(pattern, text, re.ASCII)`) on texts hypothesis draws from 22 hand-written patterns
/// (dates, addresses, numbers, multibyte classes, every escape and repeat form) and 60 random ones, random
/// texts over their alphabet, and random byte mutations of both; every prefix the automaton takes
/// completes to a match `re` takes; the patterns `re` refuses are refused, and the ones a finite automaton
/// cannot serve are refused by name.
final class RegexTests: XCTestCase {
    private struct Reference: Decodable {
        struct Case: Decodable {
            let pattern: Int
            let text: String
            let valid: Bool
            var bytes: [UInt8] { [UInt8](Data(base64Encoded: text)!) }
        }
        let patterns: [String]
        let cases: [Case]
        let errors: [String]
    }

    private static func reference() throws -> (Reference, [RegexAutomaton]) {
        let out = try FixtureCommand.run([try ReferencePython.path(), "scripts/regex-cases.py", "cases", "60", "3"])
        let reference = try JSONDecoder().decode(Reference.self, from: Data(out.utf8))
        var automata: [RegexAutomaton] = []
        for pattern in reference.patterns {
            do { automata.append(try RegexAutomaton(pattern: pattern)) } catch {
                XCTFail("\(pattern.debugDescription): \(error)")
                throw error
            }
        }
        return (reference, automata)
    }

    func testVerdictsMatchPythonRe() throws {
        let (reference, automata) = try Self.reference()
        XCTAssertGreaterThan(reference.cases.filter(\.valid).count, 1000)
        XCTAssertGreaterThan(reference.cases.filter { !$0.valid }.count, 1000)
        for p in 0..<22 {
            XCTAssertTrue(reference.cases.contains { $0.pattern == p && $0.valid && !$0.bytes.isEmpty || p == 17 },
                          "pattern \(reference.patterns[p].debugDescription) has matches")
        }
        var mismatches: [String] = []
        for c in reference.cases where automata[c.pattern].matches(c.bytes) != c.valid {
            mismatches.append("\(reference.patterns[c.pattern].debugDescription) \(c.valid ? "refused" : "accepted") \(String(decoding: c.bytes, as: UTF8.self).debugDescription) \(c.bytes)")
        }
        XCTAssertEqual(mismatches.count, 0, mismatches.prefix(10).joined(separator: "\n"))
    }

    /// The shortest byte string from `state` to a match (breadth first over the automaton's states).
    private static func completion(after start: RegexState, _ automaton: RegexAutomaton) -> [UInt8]? {
        var previous: [Int32: (Int32, UInt8)] = [start.state: (-1, 0)]
        var queue = [start]
        var head = 0
        while head < queue.count {
            let state = queue[head]
            head += 1
            if state.canEnd(in: automaton) {
                var bytes: [UInt8] = []
                var s = state.state
                while s != start.state, let (p, b) = previous[s] { bytes.append(b); s = p }
                return bytes.reversed()
            }
            for b in 0...255 {
                var next = state
                if next.accept(UInt8(b), in: automaton), previous[next.state] == nil {
                    previous[next.state] = (state.state, UInt8(b))
                    queue.append(next)
                }
            }
        }
        return nil
    }

    func testEveryAcceptedPrefixCompletesToAMatch() throws {
        let (reference, automata) = try Self.reference()
        var triples: [[Any]] = []
        for c in reference.cases {
            let automaton = automata[c.pattern]
            var state = RegexState(automaton)
            for (i, byte) in c.bytes.enumerated() {
                guard state.accept(byte, in: automaton) else { break }
                guard let tail = Self.completion(after: state, automaton) else {
                    return XCTFail("\(reference.patterns[c.pattern].debugDescription): no completion after \(c.bytes[...i])")
                }
                triples.append([reference.patterns[c.pattern], Data(c.bytes[...i]).base64EncodedString(), Data(tail).base64EncodedString()])
            }
        }
        XCTAssertGreaterThan(triples.count, 5000)
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("regex-\(getpid()).json")
        defer { try? FileManager.default.removeItem(at: file) }
        try JSONSerialization.data(withJSONObject: triples).write(to: file)
        let out = try FixtureCommand.run([try ReferencePython.path(), "scripts/regex-cases.py", "check", file.path])
        let bad = try JSONDecoder().decode([Int].self, from: Data(out.utf8))
        XCTAssertEqual(bad.count, 0, bad.prefix(5).map { "\(triples[$0])" }.joined(separator: "\n"))
    }

    func testRefusals() throws {
        let (reference, _) = try Self.reference()
        for pattern in reference.errors {
            XCTAssertThrowsError(try RegexAutomaton(pattern: pattern), "re refuses \(pattern.debugDescription)")
        }
        func reason(_ pattern: String) -> String? {
            do { _ = try RegexAutomaton(pattern: pattern); return nil } catch { return error.reason }
        }
        XCTAssertEqual(reason(#"(a)\1"#), "backreferences are not supported")
        XCTAssertEqual(reason(#"(?P<x>a)(?P=x)"#), "backreferences are not supported")
        XCTAssertEqual(reason(#"a(?=b)"#), "lookaround is not supported")
        XCTAssertEqual(reason(#"(?<!a)b"#), "lookaround is not supported")
        XCTAssertEqual(reason(#"\bword\b"#), #"word boundaries (\b) are not supported"#)
        XCTAssertEqual(reason(#"(?i)abc"#), "inline flags are not supported")
        XCTAssertEqual(reason(#"a*+"#), "possessive repeats are not supported")
        XCTAssertEqual(reason(#"(?>a)"#), "atomic groups are not supported")
        XCTAssertEqual(reason(#"a^b"#), "^ is only served at the start of the pattern")
        XCTAssertEqual(reason(#"a$b"#), "$ is only served at the end of the pattern")
        XCTAssertEqual(reason(#"a{1001}"#), "a repeat count above 1000 is not supported")
        XCTAssertEqual(reason(#"[^\x00-\U0010FFFF]"#), "the pattern matches no text")
        XCTAssertEqual(reason(#"(a{1000}){1000}"#)?.hasPrefix("the pattern is too large"), true)
        XCTAssertEqual(reason(#"(a|b)*a(a|b){14}"#)?.hasPrefix("the pattern needs more than"), true)
        XCTAssertEqual(reason(String(repeating: "(", count: 101) + String(repeating: ")", count: 101))?.hasPrefix("groups nested"), true)
        XCTAssertEqual(try RegexAutomaton(pattern: #"\d+"#).matches(Array("١٢".utf8)), false, "\\d is ASCII, as re.ASCII reads it")
        XCTAssertEqual(try RegexAutomaton(pattern: ".").matches([0xED, 0xA0, 0x80]), false, "no surrogate in UTF-8")
    }

    /// The token mask over the regex's DFA against feeding every token's bytes to the automaton.
    func testMaskEqualsTokenByTokenFeeding() throws {
        let (vocabulary, tokens) = JSONObjectConstraintTests.vocabulary(seed: 11, pieces: 6000)
        let automaton = try RegexAutomaton(pattern: #"\{"(a|é)+": (-?\d{1,3}|true)\}( 😀)?"#)
        for text in [#"{"aéa": -12}"#, #"{"é": true} 😀"#, #"{"a": 1"#] {
            JSONObjectConstraintTests.assertMaskEqualsFeeding(text, start: RegexState(automaton), rules: automaton,
                                                              constraint: RegexConstraint(regex: automaton, vocabulary: vocabulary, eosTokenIDs: [JSONObjectConstraintTests.eos]),
                                                              tokens: tokens)
        }
    }

    /// The fewest / most characters from each state to a match, and the set of those lengths, against every
    /// completion of up to 6 characters over a small alphabet (a loop ahead: the most is unbounded, and
    /// completions that long exist).
    func testCompletionLengthsMatchEnumeration() throws {
        let alphabet = ["a", "b", "c", "é", "-"]
        func strings(upTo n: Int) -> [String] {
            var all = [""], layer = [""]
            for _ in 0..<n { layer = layer.flatMap { s in alphabet.map { s + $0 } }; all += layer }
            return all
        }
        let completions = strings(upTo: 6), prefixes = strings(upTo: 2)
        for pattern in ["(ab)+c?", "a{2,4}", "é+-?", "[a-c]*-", "a|bcé|-{3}", "(a|bb)(c|é{2})"] {
            let automaton = try RegexAutomaton(pattern: pattern)
            let (shortest, longest) = automaton.completionLengths()
            let (sets, words) = try XCTUnwrap(automaton.completionLengthSets(upTo: 6))
            for prefix in prefixes {
                var state = RegexState(automaton)
                guard prefix.utf8.allSatisfy({ state.accept($0, in: automaton) }) else { continue }
                let lengths = completions.filter { automaton.matches(Array((prefix + $0).utf8)) }.map(\.count)
                XCTAssertEqual(Int(shortest[Int(state.state)]), lengths.min(), "\(pattern) after \(prefix.debugDescription)")
                let unbounded = longest[Int(state.state)] == .max
                XCTAssertEqual(unbounded ? 6 : Int(longest[Int(state.state)]), lengths.max(), "\(pattern) after \(prefix.debugDescription)")
                let set = (0...6).filter { sets[Int(state.state) * words] & (1 << UInt64($0)) != 0 }
                XCTAssertEqual(set, Array(Set(lengths)).sorted(), "\(pattern) after \(prefix.debugDescription): the lengths")
            }
        }
    }
}
