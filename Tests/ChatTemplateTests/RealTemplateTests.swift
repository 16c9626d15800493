import Foundation
import XCTest
@testable import ChatTemplate

/// Every llama.cpp template × conversation × option, rendered in Swift, must equal Python jinja2's text
/// byte for byte, or raise the same exception (same class; same message for `raise_exception`).
final class RealTemplateTests: XCTestCase {
    /// Templates left out, with the reason (none so far).
    static let excluded: [String: String] = [:]

    func testEveryTemplateMatchesJinja2() throws {
        let fixtures = try ReferenceFixtures.load()
        let now = Date(timeIntervalSince1970: TimeInterval(fixtures["now_utc_seconds"].intValue!))
        let bos = fixtures["bos_token"].stringValue!, eos = fixtures["eos_token"].stringValue!
        let sources = fixtures["templates"].objectValue!
        let conversations = fixtures["conversations"].objectValue!
        let cases = fixtures["cases"].arrayValue!
        XCTAssertGreaterThan(cases.count, 1000)
        XCTAssertEqual(fixtures["load_errors"].objectValue?.count, 0)
        // python-env installs a missing package but keeps whatever version is there: say which one answered.
        XCTAssertEqual(fixtures["jinja2"].stringValue, "3.1.6", "the reference must come from jinja2 3.1.6")

        var parsed: [String: Result<ChatTemplate, Error>] = [:]
        var agree = 0, mismatches: [String] = []
        var perTemplate: [String: (Int, Int)] = [:]
        for c in cases {
            let name = c["template"].stringValue!
            if RealTemplateTests.excluded[name] != nil { continue }
            let conversationName = c["conversation"].stringValue!
            let conversation = conversations[conversationName]!
            let addGenerationPrompt = c["add_generation_prompt"].truthy
            var extra: [String: Value] = [:]
            for (k, v) in c["kwargs"].objectValue!.pairs { extra[k] = v }
            let label = "\(name) / \(conversationName) / agp=\(addGenerationPrompt) / \(extra.keys.sorted())"

            let template = parsed[name] ?? Result { try ChatTemplate(source: sources[name]!.stringValue!) }
            parsed[name] = template
            let outcome = Result {
                try template.get().render(messages: conversation["messages"].arrayValue!,
                                          addGenerationPrompt: addGenerationPrompt,
                                          tools: conversation["tools"].arrayValue,
                                          bosToken: bos, eosToken: eos, extra: extra, now: now)
            }
            let problem = compare(outcome, expected: c["expected"].stringValue, error: c["error"])
            var counts = perTemplate[name] ?? (0, 0)
            if let problem {
                mismatches.append("\(label): \(problem)")
                counts.1 += 1
            } else {
                agree += 1
                counts.0 += 1
            }
            perTemplate[name] = counts
        }
        print("chat templates: \(agree) cases agree with jinja2, \(mismatches.count) mismatch, "
            + "\(perTemplate.count) templates")
        for (name, counts) in perTemplate.sorted(by: { $0.key < $1.key }) where counts.1 > 0 {
            print("  \(name): \(counts.0) agree, \(counts.1) mismatch")
        }
        for m in mismatches.prefix(40) { print("MISMATCH " + m) }
        XCTAssertEqual(mismatches.count, 0, "first mismatch: \(mismatches.first ?? "")")
    }

    /// transformers' `continue_final_message` (its own render_jinja_template, add_generation_prompt false)
    /// over every template × conversation, three of them ending in a partial assistant reply: the same
    /// text, or the same exception class.
    func testContinueFinalMessageMatchesTransformers() throws {
        let fixtures = try ReferenceFixtures.loadContinueFinalMessage()
        XCTAssertEqual(fixtures["transformers"].stringValue, "5.25.0", "the reference must come from transformers 5.25.0")
        let now = Date(timeIntervalSince1970: TimeInterval(fixtures["now_utc_seconds"].intValue!))
        let bos = fixtures["bos_token"].stringValue!, eos = fixtures["eos_token"].stringValue!
        let sources = fixtures["templates"].objectValue!, conversations = fixtures["conversations"].objectValue!
        let cases = fixtures["cases"].arrayValue!
        XCTAssertGreaterThan(cases.count, 1000)
        var parsed: [String: Result<ChatTemplate, Error>] = [:]
        var mismatches: [String] = [], rendered = 0
        for c in cases {
            let name = c["template"].stringValue!, conversationName = c["conversation"].stringValue!
            let conversation = conversations[conversationName]!
            var extra: [String: Value] = [:]
            for (k, v) in c["kwargs"].objectValue!.pairs { extra[k] = v }
            let template = parsed[name] ?? Result { try ChatTemplate(source: sources[name]!.stringValue!) }
            parsed[name] = template
            let outcome = Result {
                try template.get().render(messages: conversation["messages"].arrayValue!, addGenerationPrompt: false,
                                          continueFinalMessage: true, tools: conversation["tools"].arrayValue,
                                          bosToken: bos, eosToken: eos, extra: extra, now: now)
            }
            if let problem = compare(outcome, expected: c["expected"].stringValue, error: c["error"]) {
                mismatches.append("\(name) / \(conversationName): \(problem)")
            } else if c["expected"].stringValue != nil {
                rendered += 1
            }
        }
        print("continue_final_message: \(cases.count - mismatches.count) cases agree with transformers (\(rendered) rendered), "
            + "\(mismatches.count) mismatch")
        for m in mismatches.prefix(40) { print("MISMATCH " + m) }
        XCTAssertGreaterThan(rendered, 900)
        XCTAssertEqual(mismatches.count, 0, "first mismatch: \(mismatches.first ?? "")")
    }

    /// Random expressions over filters, tests, operators, methods and loops (the script's fixed-seed
    /// generator), each rendered against the same context: same text, or the same exception class.
    func testRandomSnippetsMatchJinja2() throws {
        let fixtures = try ReferenceFixtures.load()
        var context: [String: Value] = [:]
        for (k, v) in fixtures["snippet_context"].objectValue!.pairs { context[k] = v }
        let snippets = fixtures["snippets"].arrayValue!
        XCTAssertGreaterThan(snippets.count, 1000)
        var mismatches: [String] = []
        for snippet in snippets {
            let source = snippet["source"].stringValue!
            var variables = context
            if let own = snippet["context"].objectValue {  // the layout snippets bring their own
                variables = [:]
                for (k, v) in own.pairs { variables[k] = v }
            }
            let outcome = Result { try ChatTemplate(source: source).render(context: variables) }
            if let problem = compare(outcome, expected: snippet["expected"].stringValue, error: snippet["error"]) {
                mismatches.append("\(source): \(problem)")
            }
        }
        print("snippets: \(snippets.count - mismatches.count) agree with jinja2, \(mismatches.count) mismatch")
        for m in mismatches.prefix(40) { print("MISMATCH " + m) }
        XCTAssertEqual(mismatches.count, 0, "first mismatch: \(mismatches.first ?? "")")
    }

    /// nil when the Swift outcome matches the reference; otherwise what differs.
    private func compare(_ outcome: Result<String, Error>, expected: String?, error: Value) -> String? {
        switch outcome {
        case .success(let text):
            guard let expected else { return "rendered, but jinja2 raised \(error["type"].stringValue!): \(error["message"].stringValue!)" }
            if text == expected && text.utf8.elementsEqual(expected.utf8) { return nil }
            return "text differs: \(firstDifference(text, expected))"
        case .failure(let e):
            guard expected == nil else { return "raised \(e), jinja2 rendered" }
            let pythonType = error["type"].stringValue!, pythonMessage = error["message"].stringValue!
            guard let mine = e as? ChatTemplateError else { return "raised non-template error \(e)" }
            if mine.pythonExceptionName != pythonType {
                return "raised \(mine.pythonExceptionName) (\(mine)), jinja2 \(pythonType): \(pythonMessage)"
            }
            if case .raised(let message) = mine, message != pythonMessage {
                return "raise_exception message \(PythonString.repr(message)) != \(PythonString.repr(pythonMessage))"
            }
            return nil
        }
    }

    private func firstDifference(_ a: String, _ b: String) -> String {
        let x = Array(a.unicodeScalars), y = Array(b.unicodeScalars)
        var i = 0
        while i < x.count && i < y.count && x[i] == y[i] { i += 1 }
        func around(_ s: [Unicode.Scalar]) -> String {
            PythonString.repr(PyStr.string(s[max(0, i - 40)..<min(s.count, i + 40)]))
        }
        return "at code point \(i): swift \(around(x)) vs jinja2 \(around(y))"
    }
}
