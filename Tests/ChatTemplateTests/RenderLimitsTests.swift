import Foundation
import XCTest
@testable import ChatTemplate

/// Regressions for scripts/fuzz (fuzz-chat-template): templates that overflowed the stack, ran for
/// minutes or built gigabytes now fail with one ChatTemplateError (`RenderLimits`); what real templates
/// do below the limits renders as jinja2 renders it (the expected strings are jinja2 3.1's output).
final class RenderLimitsTests: XCTestCase {
    private func render(_ source: String) throws -> String {
        try ChatTemplate(source: source).render(context: [:])
    }

    private func assertSyntaxError(_ source: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try ChatTemplate(source: source), file: file, line: line) { error in
            guard case .syntax(let message, _)? = error as? ChatTemplateError else {
                return XCTFail("expected a syntax error, got \(error)", file: file, line: line)
            }
            XCTAssertTrue(message.contains("levels deep"), message, file: file, line: line)
        }
    }

    private func assertRenderFails(_ source: String, _ matches: (ChatTemplateError) -> Bool,
                                   file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try render(source), file: file, line: line) { error in
            guard let e = error as? ChatTemplateError, matches(e) else {
                return XCTFail("unexpected error \(error)", file: file, line: line)
            }
            XCTAssertFalse(e.description.contains("\n"), "one line", file: file, line: line)
        }
    }

    func testDeepBracketsAreASyntaxErrorNotAStackOverflow() throws {
        XCTAssertEqual(try render("{{ " + String(repeating: "(", count: 50) + "7" + String(repeating: ")", count: 50) + " }}"), "7")
        assertSyntaxError("{{ " + String(repeating: "(", count: 100_000) + "7" + String(repeating: ")", count: 100_000) + " }}")
        assertSyntaxError("{{ " + String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000) + " }}")
        assertSyntaxError("{{ " + String(repeating: "not ", count: 100_000) + "x }}")
        assertSyntaxError(String(repeating: "{% if x %}", count: 100_000))
    }

    func testLongOperatorChainsAreBoundedWhereJinja2Is() throws {
        // jinja2 renders 300 terms and fails at 500 (Python's recursion limit).
        XCTAssertEqual(try render("{{ " + Array(repeating: "1", count: 300).joined(separator: "+") + " }}"), "300")
        assertSyntaxError("{{ " + Array(repeating: "1", count: 100_000).joined(separator: "+") + " }}")
        assertSyntaxError("{{ x" + String(repeating: "|trim", count: 100_000) + " }}")
        assertSyntaxError("{{ x" + String(repeating: ".a", count: 100_000) + " }}")
    }

    func testRecursiveMacroIsRecursionError() {
        assertRenderFails("{% macro m(n) %}{{ m(n + 1) }}{% endmacro %}{{ m(0) }}") {
            if case .python("RecursionError", _) = $0 { return true } else { return false }
        }
    }

    func testHugeStringsAndListsAreMemoryError() {
        let isMemoryError: (ChatTemplateError) -> Bool = { if case .python("MemoryError", _) = $0 { return true } else { return false } }
        assertRenderFails("{{ 'x' * 100000000000 }}", isMemoryError)
        assertRenderFails("{{ [1, 2] * 100000000000 }}", isMemoryError)
        assertRenderFails("{% set s = 'x' * 20000000 %}{{ s ~ s }}", isMemoryError)
        assertRenderFails("{{ 'a\nb' | indent(100000000) }}", isMemoryError)
        assertRenderFails("{{ [[[[1]]]] | tojson(indent=100000000) }}", isMemoryError)
        // The output itself: 2 × 20 MB of text.
        assertRenderFails("{% set s = 'x' * 20000000 %}{{ s }}{{ s }}", isMemoryError)
    }

    func testLoopIterationsAreBounded() {
        assertRenderFails("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}") {
            if case .runtime(let message) = $0 { return message.contains("loop iterations") } else { return false }
        }
    }

    func testNamespaceHoldingItselfPrintsAsJinja2AndIsFreed() throws {
        weak var probe: Namespace?
        do {
            let context = Namespace(OrderedDictionary([("x", .string("kept"))]))
            probe = context
            let rendered = try ChatTemplate(source: "{% set ns = namespace(a=1, c=ctx) %}{% set ns.me = ns %}{{ ns.a }} {{ ns.me.me.c.x }}")
                .render(context: ["ctx": .namespace(context)])
            XCTAssertEqual(rendered, "1 kept")
        }
        XCTAssertNil(probe, "a namespace cycle kept the render's context alive")
        XCTAssertEqual(try render("{% set ns = namespace(a=1) %}{% set ns.me = ns %}{{ ns }}"),
                       "<Namespace {'a': 1, 'me': <Namespace {...}>}>")
    }
}
