import Basics
import DeepSeekModel
import XCTest
@testable import ModelText

/// The choice automaton against a brute-force count over the whole vocabulary: its token paths are
/// exactly the ways the vocabulary (special tokens left out) spells each choice.
final class ChoiceAutomatonTests: XCTestCase {
    private static let text = Result { try ModelText(folder: try BuiltinModel.resolve("tiny")) }
    private static let vocab = 512

    /// Every accepted path's bytes, by depth-first walk (the automaton has no cycles: each edge adds bytes).
    private func paths(_ a: TokenAutomaton, _ text: ModelText) -> [[UInt8]: Int] {
        var found: [[UInt8]: Int] = [:]
        let accepting = Set(a.accepting)
        func walk(_ node: Int, _ bytes: [UInt8]) {
            if accepting.contains(node) { found[bytes, default: 0] += 1 }
            for i in a.from.indices where a.from[i] == node { walk(a.to[i], bytes + text.tokenizer.bytes(of: a.token[i])) }
        }
        walk(0, [])
        return found
    }

    /// Ways to split `target` into the bytes of non-special tokens below the vocab size (dynamic programming).
    private func tokenizations(_ target: [UInt8], _ text: ModelText) -> Int {
        let pieces = (0..<Self.vocab).filter { !text.tokenizer.isSpecial($0) && text.tokenizer.token(for: $0) != nil }
            .map { text.tokenizer.bytes(of: $0) }.filter { !$0.isEmpty }
        var ways = [Int](repeating: 0, count: target.count + 1)
        ways[0] = 1
        for end in 1...target.count {
            for p in pieces where p.count <= end && target[(end - p.count)..<end].elementsEqual(p) { ways[end] += ways[end - p.count] }
        }
        return ways[target.count]
    }

    func testPathsAreEveryTokenizationOfEveryChoice() throws {
        let text = try Self.text.get()
        let choices = ["Paris", "Par", "London", "yes, 42 🌍"]
        let automaton = try text.choiceAutomaton(choices, vocabSize: Self.vocab)
        let found = paths(automaton, text)
        XCTAssertEqual(Set(found.keys), Set(choices.map { Array($0.utf8) }), "only the choices are spelled")
        for choice in choices {
            let bytes = Array(choice.utf8)
            XCTAssertEqual(found[bytes], tokenizations(bytes, text), "\(choice): every split of it, once")
            XCTAssertGreaterThan(found[bytes] ?? 0, 1, "\(choice): more than the tokenizer's own split")
        }
        // The tokenizer's own split is one of the paths.
        for choice in choices {
            var node = 0
            for t in text.tokenizer.encode(choice, addSpecialTokens: false) {
                guard let i = automaton.from.indices.first(where: { automaton.from[$0] == node && automaton.token[$0] == t }) else {
                    return XCTFail("\(choice): token \(t) of its encoding leaves the automaton")
                }
                node = automaton.to[i]
            }
            XCTAssertTrue(automaton.accepting.contains(node), choice)
        }
        XCTAssertEqual(try? text.choiceAutomaton([], vocabSize: Self.vocab), nil)
        XCTAssertThrowsError(try text.choiceAutomaton(["a", ""], vocabSize: Self.vocab)) { XCTAssertEqual($0 as? ChoiceError, .emptyChoice) }
        XCTAssertThrowsError(try text.choiceAutomaton([String(repeating: "x", count: ModelText.maxChoiceBytes + 1)], vocabSize: Self.vocab)) {
            XCTAssertEqual($0 as? ChoiceError, .tooLarge)
        }
    }
}
