import Foundation
import XCTest
@testable import StructuredOutput

/// GBNF grammars against llama.cpp's own grammar engine (Golden/gbnf-llamacpp.json, written by
/// scripts/gbnf-golden from the llama-cpp-python sdist's src/llama-grammar.cpp): the same grammars
/// refused, and the same verdict — whole, a prefix, or refused at the same code point — on the strings of
/// llama.cpp's grammar tests, its random walks through each grammar and their one-code-point mutations;
/// the grammars are llama.cpp's grammars/*.gbnf and those of tests/test-grammar-{integration,parser}.cpp.
final class GBNFTests: XCTestCase {
    private struct Golden: Decodable {
        struct Grammar: Decodable {
            struct Case: Decodable {
                let text: String
                let verdict: String
                let rejected_at: Int?
            }
            let name: String
            let text: String
            let valid: Bool
            let uses_tokens: Bool
            let cases: [Case]
        }
        let source: String
        let grammars: [Grammar]
    }

    /// "complete", "prefix" or "rejected" with the index of the code point refused, as the golden spells it.
    static func verdict(_ text: String, _ grammar: GBNFGrammar) -> (String, Int?) {
        let matcher = GBNFMatcher(grammar)
        var state = matcher.startState
        for (index, scalar) in text.unicodeScalars.enumerated() {
            for byte in String(scalar).utf8 where !state.accept(byte, in: matcher) { return ("rejected", index) }
        }
        return (state.canEnd(in: matcher) ? "complete" : "prefix", nil)
    }

    func testVerdictsMatchLlamaCpp() throws {
        let url = try XCTUnwrap(Bundle.module.url(forResource: "gbnf-llamacpp", withExtension: "json", subdirectory: "Golden"))
        let golden = try JSONDecoder().decode(Golden.self, from: Data(contentsOf: url))
        var grammars = 0, refused = 0, cases = 0
        for g in golden.grammars {
            let parsed: GBNFGrammar
            do {
                parsed = try GBNFGrammar(g.text)
            } catch {
                if g.uses_tokens {
                    XCTAssertTrue(error.reason.contains("token references"), "\(g.name): \(error)")
                } else {
                    XCTAssertFalse(g.valid, "\(g.name): llama.cpp takes it, we refuse it: \(error)\n\(g.text)")
                }
                refused += 1
                continue
            }
            XCTAssertTrue(g.valid && !g.uses_tokens, "\(g.name): llama.cpp refuses it, we take it\n\(g.text)")
            grammars += 1
            for c in g.cases {
                let (verdict, at) = Self.verdict(c.text, parsed)
                XCTAssertEqual(verdict, c.verdict, "\(g.name): \(c.text.debugDescription)")
                if verdict == "rejected" && c.verdict == "rejected" { XCTAssertEqual(at, c.rejected_at, "\(g.name): \(c.text.debugDescription)") }
                cases += 1
            }
        }
        XCTAssertGreaterThan(grammars, 30)
        XCTAssertGreaterThan(refused, 10)
        XCTAssertGreaterThan(cases, 3000)
    }

    /// The token mask against feeding every token's bytes to the grammar: recursion (nested lists), a
    /// negated class, repetition counts and code points of 2, 3 and 4 bytes that tokens split.
    func testMaskEqualsTokenByTokenFeeding() throws {
        let (vocabulary, tokens) = JSONObjectConstraintTests.vocabulary(seed: 13, pieces: 6000)
        let grammar = try GBNFGrammar(#"""
            root  ::= "{" item ("," item){0,3} "}"
            item  ::= "\"" [^"\\\x00-\x1f]* "\"" | list | [0-9]{1,3} | "é" | "日本"+ | "😀"?
            list  ::= "[" (root | item)? "]"
            """#)
        for text in [#"{"aé日",[{[1]}],12,"x"}"#, "{日本日本,😀,é}", #"{[[{"#, "{[]"] {
            let matcher = GBNFMatcher(grammar)
            JSONObjectConstraintTests.assertMaskEqualsFeeding(text, start: matcher.startState, rules: matcher,
                                                              constraint: GBNFConstraint(grammar: grammar, vocabulary: vocabulary, eosTokenIDs: [JSONObjectConstraintTests.eos]),
                                                              tokens: tokens)
        }
    }

    /// A UTF-8 sequence is taken byte by byte only while some code point it may become is in a class on
    /// top (a negated class too), and never as an overlong form or a surrogate.
    func testPartialCodePoints() throws {
        let grammar = try GBNFGrammar(#"root ::= [^é] | [\u4e00-\u9fff] "x""#)
        func takes(_ bytes: [UInt8]) -> Bool {
            let matcher = GBNFMatcher(grammar)
            var state = matcher.startState
            return bytes.allSatisfy { state.accept($0, in: matcher) }
        }
        XCTAssertTrue(takes([0xC3]), "à and the rest of 0xC3's code points are outside [^é]")
        XCTAssertFalse(takes([0xC3, 0xA9]), "é")
        XCTAssertTrue(takes(Array("中x".utf8)))
        XCTAssertTrue(takes([0xE4]), "U+4000…U+4FFF meets the CJK range")
        XCTAssertFalse(takes([0xC0, 0x80]), "overlong NUL")
        XCTAssertFalse(takes([0xED, 0xA0, 0x80]), "surrogate")
        XCTAssertFalse(takes([0xED, 0xA0]), "every code point 0xED 0xA0 may begin is a surrogate")
        XCTAssertTrue(takes([0xED, 0x9F]), "U+D7C0…U+D7FF are code points outside [^é]")
        let ascii = try GBNFGrammar(#"root ::= [a-z]"#)
        let matcher = GBNFMatcher(ascii)
        var state = matcher.startState
        XCTAssertFalse(state.accept(0xC3, in: matcher), "no code point of 0xC3 is in [a-z]")
    }

    /// A class's sorted, merged ranges against the ranges as written: membership and "some code point of
    /// low...high is in it", negated or not, on 2000 random classes.
    func testCodePointClassAgainstItsRanges() {
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let written = (0..<Int.random(in: 0...6, using: &rng)).map { _ -> ClosedRange<UInt32> in
                let a = UInt32.random(in: 0..<60, using: &rng)
                return a...(a + UInt32.random(in: 0..<12, using: &rng))
            }
            let negated = Bool.random(using: &rng)
            let c = CodePointClass(ranges: written, negated: negated)
            let member = { (x: UInt32) in written.contains { $0.contains(x) } != negated }
            for x: UInt32 in 0..<80 { XCTAssertEqual(c.contains(x), member(x), "\(written) negated \(negated): \(x)") }
            let low = UInt32.random(in: 0..<75, using: &rng), high = low + UInt32.random(in: 0..<10, using: &rng)
            XCTAssertEqual(c.intersects(low, high), (low...high).contains(where: member), "\(written) negated \(negated): \(low)...\(high)")
        }
    }

    /// What llama.cpp refuses, refused with where and why.
    func testRefusals() {
        func error(_ text: String) -> String {
            do { _ = try GBNFGrammar(text); return "accepted" } catch { return error.description }
        }
        XCTAssertEqual(error("root ::= \"a"), "line 1 column 10: unterminated string")
        XCTAssertEqual(error("root ::= [a-"), "line 1 column 10: unterminated character class")
        XCTAssertEqual(error("root ::= a\n"), "undefined rule 'a'")
        XCTAssertEqual(error("item ::= \"a\"\n"), "the grammar has no root rule")
        XCTAssertEqual(error("root ::= root \"a\" | \"b\""), "rule 'root' is left-recursive, which llama.cpp's grammars do not serve either")
        XCTAssertEqual(error("root ::= \"a\"\nroot := \"b\""), "line 2 column 6: expecting ::=")
        XCTAssertEqual(error("start: value\nvalue: \"a\""), "line 1 column 6: expecting ::= (a Lark rule `name: ...`? only GBNF, llama.cpp's format, is served)")
        XCTAssertEqual(error("root ::= \"\\q\""), "line 1 column 11: unknown escape \\q")
        XCTAssertEqual(error("root ::= \"\\x4\""), "line 1 column 11: expecting 2 hex digits")
        XCTAssertEqual(error("root ::= \"a\"{2001}"), "line 1 column 14: a repetition count over 2000")
        XCTAssertEqual(error("root ::= \"a\"{3,2}"), "line 1 column 13: a repetition {3,2} with its maximum below its minimum")
        XCTAssertEqual(error("root ::= * \"a\""), "line 1 column 10: expecting something to repeat before */+/?/{")
        XCTAssertEqual(error("root ::= <think> \"a\""), "line 1 column 10: token references (<…>) are not served: write the text the grammar allows")
        XCTAssertEqual(error("root ::= (\"a\" \"b\""), "line 1 column 18: expecting )")
        XCTAssertEqual(error("root ::= \"a\" )"), "line 1 column 14: expecting a new line or the end after a rule")
        XCTAssertEqual(error("# only a comment\n"), "the grammar has no rules")
        // Left recursion llama.cpp's check misses (b is empty only through c; llama.cpp never returns on it):
        // refused, at the start or past it, rather than grown until the matcher's bounds.
        XCTAssertEqual(error("root ::= b root \"x\" | \"y\"\nb ::= c\nc ::= \"\" | \"z\""),
                       "rule 'root' is left-recursive through rules that may be empty")
        XCTAssertEqual(error("root ::= \"a\" r\nr ::= b r \"x\" | \"y\"\nb ::= c\nc ::= \"\" | \"z\""),
                       "rule 'r' is left-recursive through rules that may be empty")
        // The same recursion by tail references only repeats the same stacks: served (as llama.cpp serves
        // its own test's `( [x]* )*`).
        let tail = try? GBNFGrammar("root ::= b root | \"y\"\nb ::= c\nc ::= \"\" | \"z\"")
        XCTAssertEqual(tail.map { Self.verdict("zzzy", $0).0 }, "complete")
        XCTAssertEqual(error("root ::= " + (0..<5000).map { "\"\($0)\"" }.joined(separator: " | ")),
                       "root starts more than 4096 parses at once (the matcher's bound)")
        XCTAssertEqual(error("root ::= (\"ab\"{100}){100}{100}"), "line 1 column 26: the repetition writes out more than 2000 rules")
    }

    /// Nested parentheses 5000 deep (a stack node each), then an ambiguous grammar whose parses share
    /// their stacks: both walked in well under a second; nesting past the matcher's bounds is refused.
    func testDeepAndAmbiguousGrammarsStayBounded() throws {
        let nested = try GBNFGrammar(#"root ::= "(" root ")" | "x""#)
        let text = String(repeating: "(", count: 5000) + "x" + String(repeating: ")", count: 5000)
        XCTAssertEqual(Self.verdict(text, nested).0, "complete")
        XCTAssertEqual(Self.verdict(String(text.dropLast()), nested).0, "prefix")
        // 20,000 deep passes the sets one sequence may hold: refused there, not grown without bound.
        let (verdict, at) = Self.verdict(String(repeating: "(", count: 20_000), nested)
        XCTAssertEqual(verdict, "rejected")
        XCTAssertEqual(at, GBNFMatcher.maxSets - 1, "each depth is a set of its own; the start set is the first")
        let ambiguous = try GBNFGrammar(#"root ::= ("a" | "a" "a" | "aa" | "a"+)* "b""#)
        XCTAssertEqual(Self.verdict(String(repeating: "a", count: 3000) + "b", ambiguous).0, "complete")
        XCTAssertEqual(Self.verdict(String(repeating: "a", count: 3000) + "c", ambiguous).1, 3000)
    }
}
