import Foundation
import XCTest
@testable import ChatTemplate

/// Regression for scripts/fuzz (fuzz-chat-template, LeakSanitizer): a macro's closure holds the scope
/// it was defined in and that scope holds the macro, so every render of a template with a macro (e.g.
/// llama.cpp's Kimi-K2 template) leaked its scope and the whole context — the gateway renders one per
/// chat request. After a render nothing of the context may stay alive.
final class MacroReleaseTests: XCTestCase {
    func rendersAndReleasesContext(_ source: String, expected: String, file: StaticString = #filePath, line: UInt = #line) throws {
        weak var probe: Namespace?
        do {
            let context = Namespace(OrderedDictionary([("x", .string("kept"))]))
            probe = context
            let rendered = try ChatTemplate(source: source).render(context: ["ctx": .namespace(context)])
            XCTAssertEqual(rendered, expected, file: file, line: line)
        }
        XCTAssertNil(probe, "the render's context is still alive after the render (a reference cycle)", file: file, line: line)
    }

    func testTopLevelMacroReleasesItsScope() throws {
        try rendersAndReleasesContext("{% macro m(a) %}[{{ a }}{{ ctx.x }}]{% endmacro %}{{ m(1) }}{{ m(2) }}", expected: "[1kept][2kept]")
    }

    func testMacroInLoopAndCallBlockReleaseTheirScopes() throws {
        try rendersAndReleasesContext(
            "{% for i in [1, 2] %}{% macro m() %}{{ i }}{{ caller() }}{% endmacro %}{% call m() %}{{ ctx.x }}{% endcall %}{% endfor %}",
            expected: "1kept2kept")
    }

    func testTemplateWithoutMacroReleasesContext() throws {
        try rendersAndReleasesContext("{{ ctx.x }}", expected: "kept")
    }
}
