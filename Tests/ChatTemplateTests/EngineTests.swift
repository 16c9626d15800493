import Foundation
import XCTest
@testable import ChatTemplate

/// One engine feature per test. Every expected string is what Python jinja2 3.1.6 renders for the same
/// template and context, set up as transformers sets it up (see scripts/chat-template-fixtures.py).
final class EngineTests: XCTestCase {
    /// strftime_now's fixed date in the reference: 2026-07-14 09:05:03 UTC.
    let now = Date(timeIntervalSince1970: 1_784_019_903)

    func check(_ source: String, context: String, _ expected: String, file: StaticString = #filePath, line: UInt = #line) throws {
        guard case .object(let o) = try Value(json: context) else { return XCTFail("context is not an object") }
        var variables: [String: Value] = [:]
        for (k, v) in o.pairs { variables[k] = v }
        let rendered = try ChatTemplate(source: source).render(context: variables, now: now)
        XCTAssertEqual(rendered, expected, file: file, line: line)
        XCTAssertTrue(rendered.unicodeScalars.elementsEqual(expected.unicodeScalars), file: file, line: line)
    }

    /// jinja2 raised `pythonType` (with `message` for raise_exception); the Swift engine must raise the same.
    func checkRaises(_ source: String, context: String, _ pythonType: String, _ message: String,
                     file: StaticString = #filePath, line: UInt = #line) throws {
        guard case .object(let o) = try Value(json: context) else { return XCTFail("context is not an object") }
        var variables: [String: Value] = [:]
        for (k, v) in o.pairs { variables[k] = v }
        XCTAssertThrowsError(try ChatTemplate(source: source).render(context: variables, now: now), file: file, line: line) { error in
            guard let e = error as? ChatTemplateError else { return XCTFail("\(error)", file: file, line: line) }
            XCTAssertEqual(e.pythonExceptionName, pythonType, "\(e)", file: file, line: line)
            if case .raised(let m) = e { XCTAssertEqual(m, message, file: file, line: line) }
        }
    }

    func testLstripTrimBlocks() throws {
        try check("<a>\n  {% if true %}\n    yes\n  {% endif %}\n</a>\n",
                  context: "{}",
                  "<a>\n    yes\n</a>")
    }

    func testLstripOnlyAtLineStart() throws {
        try check("x  {% if true %}y{% endif %}  \n  {{ 'v' }}\n",
                  context: "{}",
                  "x  y  \n  v")
    }

    func testMinusStripsBothSides() throws {
        try check("a  \n {%- if true -%}  \n b  {%- endif -%}\n\n  c",
                  context: "{}",
                  "abc")
    }

    func testVariableMinus() throws {
        try check("a   {{- 'b' -}}   c",
                  context: "{}",
                  "abc")
    }

    func testPlusKeepsIndent() throws {
        try check("a\n  {%+ if true %}b{% endif %}",
                  context: "{}",
                  "a\n  b")
    }

    func testCommentsTrimmed() throws {
        try check("line1\n    {# a comment #}\nline2 {#- eat -#}   line3",
                  context: "{}",
                  "line1\nline2line3")
    }

    func testRawBlock() throws {
        try check("{% raw %}{{ not rendered }} {% if %}{% endraw %}!",
                  context: "{}",
                  "{{ not rendered }} {% if %}!")
    }

    func testTrailingNewlineDropped() throws {
        try check("x\n",
                  context: "{}",
                  "x")
    }

    func testNewlineAfterVariableKept() throws {
        try check("{{ 'a' }}\n{{ 'b' }}\n",
                  context: "{}",
                  "a\nb")
    }

    func testLoopVariables() throws {
        try check("{% for x in items %}{{ loop.index }}{{ loop.index0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}{{ loop.revindex }}{{ loop.revindex0 }}|{% endfor %}",
                  context: "{\"items\": [\"a\", \"b\", \"c\"]}",
                  "10TrueFalse332|21FalseFalse321|32FalseTrue310|")
    }

    func testLoopPrevNext() throws {
        try check("{% for x in items %}[{{ loop.previtem }}<{{ x }}>{{ loop.nextitem }}]{% endfor %}",
                  context: "{\"items\": [1, 2, 3]}",
                  "[<1>2][1<2>3][2<3>]")
    }

    func testLoopCycle() throws {
        try check("{% for x in items %}{{ loop.cycle('odd', 'even') }} {% endfor %}",
                  context: "{\"items\": [1, 2, 3]}",
                  "odd even odd ")
    }

    func testForElse() throws {
        try check("{% for x in items %}{{ x }}{% else %}empty{% endfor %}",
                  context: "{\"items\": []}",
                  "empty")
    }

    func testForFilter() throws {
        try check("{% for x in items if x > 1 %}{{ x }}{{ loop.index }}{{ loop.last }},{% endfor %}",
                  context: "{\"items\": [3, 1, 2, 0]}",
                  "31False,22True,")
    }

    func testForUnpackItems() throws {
        try check("{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}",
                  context: "{\"d\": {\"b\": 1, \"a\": [1, 2]}}",
                  "b=1;a=[1, 2];")
    }

    func testBreakContinue() throws {
        try check("{% for x in range(10) %}{% if x is odd %}{% continue %}{% endif %}{% if x > 6 %}{% break %}{% endif %}{{ x }}{% endfor %}",
                  context: "{}",
                  "0246")
    }

    func testForScopeDoesNotLeak() throws {
        try check("{% set x = 0 %}{% for i in [1, 2] %}{% set x = i %}[{{ x }}]{% endfor %}{{ x }}",
                  context: "{}",
                  "[1][2]0")
    }

    func testNamespaceLeaks() throws {
        try check("{% set ns = namespace(n=0, s='') %}{% for i in [1, 2, 3] %}{% set ns.n = ns.n + i %}{% set ns.s = ns.s ~ i %}{% endfor %}{{ ns.n }} {{ ns.s }}",
                  context: "{}",
                  "6 123")
    }

    func testIfScopeLeaks() throws {
        try check("{% if true %}{% set y = 'set in if' %}{% endif %}{{ y }}",
                  context: "{}",
                  "set in if")
    }

    func testElifElse() throws {
        try check("{% for v in [1, 2, 3] %}{% if v == 1 %}one{% elif v == 2 %}two{% else %}many{% endif %} {% endfor %}",
                  context: "{}",
                  "one two many ")
    }

    func testSetTuple() throws {
        try check("{% set a, b = 1, 'two' %}{{ a }}{{ b }}",
                  context: "{}",
                  "1two")
    }

    func testSetBlockWithFilter() throws {
        try check("{% set x | upper %}abc {{ 'def' }}{% endset %}{{ x }}",
                  context: "{}",
                  "ABC DEF")
    }

    func testMacroDefaultsAndKeywords() throws {
        try check("{% macro greet(name, greeting='Hello', punct='!') %}{{ greeting }}, {{ name }}{{ punct }}{% endmacro %}{{ greet('Ann') }} {{ greet('Bob', punct='?') }} {{ greet('Cy', 'Hi') }}",
                  context: "{}",
                  "Hello, Ann! Hello, Bob? Hi, Cy!")
    }

    func testCallBlock() throws {
        try check("{% macro box() %}[{{ caller() }}]{% endmacro %}{% call box() %}inside{% endcall %}",
                  context: "{}",
                  "[inside]")
    }

    func testTypeTests() throws {
        try check("{% for v in values %}{{ v is string }}{{ v is number }}{{ v is integer }}{{ v is float }}{{ v is mapping }}{{ v is iterable }}{{ v is sequence }}{{ v is boolean }}{{ v is none }}{{ v is true }}{{ v is false }}|{% endfor %}",
                  context: "{\"values\": [\"s\", 1, 1.5, true, null, [1], {\"a\": 1}, false]}",
                  "TrueFalseFalseFalseFalseTrueTrueFalseFalseFalseFalse|FalseTrueTrueFalseFalseFalseFalseFalseFalseFalseFalse|FalseTrueFalseTrueFalseFalseFalseFalseFalseFalseFalse|FalseTrueFalseFalseFalseFalseFalseTrueFalseTrueFalse|FalseFalseFalseFalseFalseFalseFalseFalseTrueFalseFalse|FalseFalseFalseFalseFalseTrueTrueFalseFalseFalseFalse|FalseFalseFalseFalseTrueTrueTrueFalseFalseFalseFalse|FalseTrueFalseFalseFalseFalseFalseTrueFalseFalseTrue|")
    }

    func testDefinedTests() throws {
        try check("{{ x is defined }}{{ x is undefined }}{{ y is defined }}{{ y is not none }}{{ 2 is in [1, 2] }}{{ 3 is divisibleby 3 }}{{ 4 is even }}{{ 'ab' is lower }}",
                  context: "{\"y\": null}",
                  "FalseTrueTrueFalseTrueTrueTrueTrue")
    }

    func testStringFilters() throws {
        try check("{{ '  hi there  '|trim }}|{{ 'xxhixx'|trim('x') }}|{{ 'hello world-wide (test)'|title }}|{{ 'hELLO wORLD'|capitalize }}|{{ 'MiXeD'|lower }}{{ 'MiXeD'|upper }}|{{ 'a-b-c'|replace('-', '+') }}|{{ 'aaa'|replace('a', 'b', 2) }}|{{ 'one two  three'|wordcount }}",
                  context: "{}",
                  "hi there|hi|Hello World-Wide (Test)|Hello world|mixedMIXED|a+b+c|bba|3")
    }

    func testLengthAndString() throws {
        try check("{{ 'héllo🌍'|length }} {{ [1, 2]|count }} {{ {'a': 1}|length }} {{ 42|string }} {{ none|string }} {{ [1, 'x']|string }}",
                  context: "{}",
                  "6 2 1 42 None [1, 'x']")
    }

    func testDefaultFilter() throws {
        try check("{{ missing|default('dflt') }} {{ ''|default('empty') }} {{ ''|default('empty', true) }} {{ none|d('n') }} {{ 0|d('zero', boolean=true) }}",
                  context: "{}",
                  "dflt  empty None zero")
    }

    func testFirstLastListItems() throws {
        try check("{{ [3, 4, 5]|first }} {{ [3, 4, 5]|last }} {{ 'abc'|list }} {{ {'k': 1, 'j': 2}|list }} {{ {'k': 1}|items|list }} {{ []|first }}|",
                  context: "{}",
                  "3 5 ['a', 'b', 'c'] ['k', 'j'] [('k', 1)] |")
    }

    func testMapSelectReject() throws {
        try check("{{ users|map(attribute='name')|join(', ') }} | {{ ['a', 'B']|map('upper')|list }} | {{ [1, 2, 3, 4]|select('odd')|list }} | {{ [1, 2, 3, 4]|reject('even')|list }} | {{ users|selectattr('admin')|map(attribute='name')|list }} | {{ users|rejectattr('name', 'equalto', 'ann')|map(attribute='name')|list }} | {{ users|map(attribute='age', default=0)|list }}",
                  context: "{\"users\": [{\"name\": \"ann\", \"admin\": true, \"age\": 30}, {\"name\": \"bob\", \"admin\": false}]}",
                  "ann, bob | ['A', 'B'] | [1, 3] | [1, 3] | ['ann'] | ['bob'] | [30, 0]")
    }

    func testJoinVariants() throws {
        try check("{{ [1, 2, 3]|join }} {{ ['a', 'b']|join('-') }} {{ users|join(', ', attribute='n') }}",
                  context: "{\"users\": [{\"n\": \"x\"}, {\"n\": \"y\"}]}",
                  "123 a-b x, y")
    }

    func testUniqueSortMinMax() throws {
        try check("{{ ['b', 'A', 'a', 'B', 'c']|unique|list }} {{ ['b', 'A', 'a', 'C']|sort }} {{ ['b', 'A', 'a', 'C']|sort(case_sensitive=true) }} {{ [3, 1, 2]|sort(reverse=true) }} {{ users|sort(attribute='age')|map(attribute='n')|list }} {{ [3, 1, 2]|min }} {{ ['b', 'C', 'a']|max }}",
                  context: "{\"users\": [{\"n\": \"x\", \"age\": 9}, {\"n\": \"y\", \"age\": 3}]}",
                  "['b', 'A', 'c'] ['A', 'a', 'b', 'C'] ['A', 'C', 'a', 'b'] [3, 2, 1] ['y', 'x'] 1 C")
    }

    func testNumberFilters() throws {
        try check("{{ '42'|int }} {{ '4.7'|int }} {{ 'x'|int }} {{ 'x'|int(7) }} {{ 3.99|int }} {{ '2.5'|float }} {{ 3|float }} {{ -5|abs }} {{ 2.5|round }} {{ 3.5|round }} {{ 3.14159|round(2) }} {{ 2.1|round(0, 'ceil') }} {{ [1, 2.5, 3]|sum }} {{ users|sum(attribute='age') }}",
                  context: "{\"users\": [{\"age\": 1}, {\"age\": 2}]}",
                  "42 4 0 7 3 2.5 3.0 5 2.0 4.0 3.14 3.0 6.5 3")
    }

    func testIndentFilter() throws {
        try check("[{{ 'a\\nb\\n\\nc'|indent }}]\n[{{ 'a\\nb\\n\\nc'|indent(2, first=true) }}]\n[{{ 'a\\nb\\n\\nc'|indent('> ', blank=true) }}]",
                  context: "{}",
                  "[a\n    b\n\n    c]\n[  a\n  b\n\n  c]\n[a\n> b\n> \n> c]")
    }

    func testSafeEscapeReverse() throws {
        try check("{{ '<b>&\"\\''|escape }} {{ '<b>'|safe }} {{ 'abc'|reverse }} {{ [1, 2, 3]|reverse|list }} {{ '<i>'|e }}",
                  context: "{}",
                  "&lt;b&gt;&amp;&#34;&#39; <b> cba [3, 2, 1] &lt;i&gt;")
    }

    func testMarkupPlusEscapes() throws {
        try check("{{ 'x'|safe + '<y>' }} {{ '<y>' ~ ('x'|safe) }}",
                  context: "{}",
                  "x&lt;y&gt; <y>x")
    }

    func testTojsonVariants() throws {
        try check("{{ data|tojson }}\n{{ data|tojson(indent=2) }}\n{{ data|tojson(separators=(',', ':')) }}\n{{ data|tojson(sort_keys=true) }}\n{{ data|tojson(ensure_ascii=true) }}\n{{ {}|tojson(indent=2) }} {{ []|tojson(indent=2) }}",
                  context: "{\"data\": {\"z\": \"日本語 \\\"q\\\" \\\\ \\n\\t😀\", \"a\": [1, 2.5, 1e+20, true, null], \"m\": {}}}",
                  "{\"z\": \"日本語 \\\"q\\\" \\\\ \\n\\t😀\", \"a\": [1, 2.5, 1e+20, true, null], \"m\": {}}\n{\n  \"z\": \"日本語 \\\"q\\\" \\\\ \\n\\t😀\",\n  \"a\": [\n    1,\n    2.5,\n    1e+20,\n    true,\n    null\n  ],\n  \"m\": {}\n}\n{\"z\":\"日本語 \\\"q\\\" \\\\ \\n\\t😀\",\"a\":[1,2.5,1e+20,true,null],\"m\":{}}\n{\"a\": [1, 2.5, 1e+20, true, null], \"m\": {}, \"z\": \"日本語 \\\"q\\\" \\\\ \\n\\t😀\"}\n{\"z\": \"\\u65e5\\u672c\\u8a9e \\\"q\\\" \\\\ \\n\\t\\ud83d\\ude00\", \"a\": [1, 2.5, 1e+20, true, null], \"m\": {}}\n{} []")
    }

    func testDictsortFilter() throws {
        try check("{{ {'b': 1, 'A': 3, 'a': 2}|dictsort }} {{ {'b': 1, 'a': 2}|dictsort(by='value', reverse=true) }}",
                  context: "{}",
                  "[('A', 3), ('a', 2), ('b', 1)] [('a', 2), ('b', 1)]")
    }

    func testArithmetic() throws {
        try check("{{ 7 + 2 }} {{ 7 - 2.5 }} {{ 7 * 3 }} {{ 7 / 2 }} {{ 8 / 2 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 2 ** 10 }} {{ 2 ** -1 }} {{ 7.5 // 2 }} {{ -7.5 % 2 }} {{ 'ab' * 3 }} {{ [0] * 2 }} {{ 'a' + 'b' }} {{ [1] + [2] }} {{ 1 ~ 'x' ~ none }} {{ -(3) }} {{ true + 1 }}",
                  context: "{}",
                  "9 4.5 21 3.5 4.0 3 -4 1 2 1024 0.5 3.0 0.5 ababab [0, 0] ab [1, 2] 1xNone -3 2")
    }

    func testComparisonsAndLogic() throws {
        try check("{{ 1 < 2 }} {{ 2 <= 1 }} {{ 'a' < 'b' }} {{ [1, 2] < [1, 3] }} {{ 1 == 1.0 }} {{ 1 != 2 }} {{ 1 < 2 < 3 }} {{ true and 'x' }} {{ 0 or 'y' }} {{ not 0 }} {{ none or [] }} {{ 'b' in 'abc' }} {{ 'z' not in ['a'] }} {{ 'k' in {'k': 1} }}",
                  context: "{}",
                  "True False True True True True True x y True [] True True True")
    }

    func testInlineIf() throws {
        try check("{{ 'yes' if x else 'no' }} {{ 'yes' if not x else 'no' }} [{{ 'only' if false }}]",
                  context: "{\"x\": true}",
                  "yes no []")
    }

    func testSlicing() throws {
        try check("{{ 'abcdef'[::-1] }} {{ 'abcdef'[1:] }} {{ 'abcdef'[:-2] }} {{ 'abcdef'[::2] }} {{ [1, 2, 3, 4][1:3] }} {{ [1, 2, 3, 4][-2:] }} {{ [1, 2, 3][::-1] }} {{ 'héllo'[1] }} {{ [1, 2][-1] }} {{ 'abc'[5:9] }}|",
                  context: "{}",
                  "fedcba bcdef abcd ace [2, 3] [3, 4] [3, 2, 1] é 2 |")
    }

    func testAttributeAndSubscript() throws {
        try check("{{ m.role }} {{ m['content'] }} {{ m.get('missing', 'dflt') }} {{ m.get('missing') }} {{ m.nested.list[1] }} {{ m['nested']['list'][0] }} [{{ m.nope }}] [{{ m['nope'] }}] [{{ m.nested.list[7] }}]",
                  context: "{\"m\": {\"role\": \"user\", \"content\": \"hi\", \"nested\": {\"list\": [10, 20]}}}",
                  "user hi dflt None 20 10 [] [] []")
    }

    func testPythonRepr() throws {
        try check("{{ [1, 'a', None, True, 1.5, {'k': \"it's\"}, 'say \"hi\"', 'both \\' \"', 'nl\\n'] }} {{ {'a': [1, {'b': none}]} }} {{ 1e20 }} {{ 0.1 + 0.2 }} {{ 1 / 3 }} {{ 1e-5 }} {{ 123456789012345678.0 }} {{ 1e16 }} {{ 1e15 }} {{ 0.0001 }} {{ 2.0 }} {{ -0.5 }}",
                  context: "{}",
                  "[1, 'a', None, True, 1.5, {'k': \"it's\"}, 'say \"hi\"', 'both \\' \"', 'nl\\n'] {'a': [1, {'b': None}]} 1e+20 0.30000000000000004 0.3333333333333333 1e-05 1.2345678901234568e+17 1e+16 1000000000000000.0 0.0001 2.0 -0.5")
    }

    func testStringMethods() throws {
        try check("{{ s.startswith('Hel') }} {{ s.endswith(('x', 'ld')) }} {{ s.split() }} {{ s.split('o') }} {{ s.split('o', 1) }} {{ s.rsplit('o', 1) }} {{ '  pad  '.strip() }}|{{ 'xxpadxx'.lstrip('x') }}|{{ '  pad  '.rstrip() }}| {{ s.replace('l', 'L') }} {{ s.upper() }} {{ s.lower() }} {{ s.find('o') }} {{ s.find('z') }} {{ s.title() }} {{ s.count('l') }} {{ 'a\\nb'.splitlines() }}",
                  context: "{\"s\": \"Hello world\"}",
                  "True True ['Hello', 'world'] ['Hell', ' w', 'rld'] ['Hell', ' world'] ['Hello w', 'rld'] pad|padxx|  pad| HeLLo worLd HELLO WORLD hello world 4 -1 Hello World 3 ['a', 'b']")
    }

    func testDictMethods() throws {
        try check("{{ d.keys()|list }} {{ d.values()|list }} {{ d.items()|list }} {% for k in d %}{{ k }}{% endfor %} {{ d.get('a') }}",
                  context: "{\"d\": {\"a\": 1, \"b\": [2]}}",
                  "['a', 'b'] [1, [2]] [('a', 1), ('b', [2])] ab 1")
    }

    func testUndefinedPrintsEmpty() throws {
        try check("[{{ nothing }}] [{{ nothing|length }}] {{ nothing is defined }} {{ nothing == nothing }} {% for x in nothing %}x{% endfor %}{{ nothing ~ 'tail' }} [{{ none.attr }}]",
                  context: "{}",
                  "[] [0] False True tail []")
    }

    func testStrftimeNow() throws {
        try check("{{ strftime_now('%d %b %Y') }} {{ strftime_now('%Y-%m-%d %H:%M:%S') }} {{ strftime_now('%A %B %-d %j %I%p') }}",
                  context: "{}",
                  "14 Jul 2026 2026-07-14 09:05:03 Tuesday July 14 195 09AM")
    }

    func testRangeAndDict() throws {
        try check("{{ range(3)|list }} {{ range(1, 7, 2)|list }} {{ range(3, 0, -1)|list }} {{ dict(a=1, b='x') }}",
                  context: "{}",
                  "[0, 1, 2] [1, 3, 5] [3, 2, 1] {'a': 1, 'b': 'x'}")
    }

    func testStringLiterals() throws {
        try check("{{ 'it\\'s' }} {{ \"dq \\\"x\\\"\" }} {{ 'tab\\tnl\\nuni\\u00e9' }} {{ 'ad' 'jacent' }}",
                  context: "{}",
                  "it's dq \"x\" tab\tnl\nunié adjacent")
    }

    func testIntDictKeys() throws {
        try check("{% set m = {0: 'zero', 512: 'half'} %}{% for k, v in m.items() %}{{ k + 1 }}{{ v }} {% endfor %}{{ m[512] }} {{ m }} {{ m|tojson }}",
                  context: "{}",
                  "1zero 513half half {0: 'zero', 512: 'half'} {\"0\": \"zero\", \"512\": \"half\"}")
    }

    func testStrFormat() throws {
        try check("{{ '<a{}b{}>'.format(1, 'x') }} {{ '{0}-{0}-{name}'.format('r', name='n') }} {{ '%s=%d' % ('k', 3) }}",
                  context: "{}",
                  "<a1bx> r-r-n k=3")
    }

    func testGeneratorsAreTruthy() throws {
        try check("{{ ([]|select('odd')) is iterable }} {% if []|select('odd') %}truthy{% endif %} {{ []|select('odd')|list|length }}",
                  context: "{}",
                  "True truthy 0")
    }

    func testRaiseException() throws {
        try checkRaises("{% if messages[0]['role'] != 'user' %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}",
                        context: "{\"messages\": [{\"role\": \"assistant\"}]}",
                        "TemplateError", "Conversation roles must alternate user/assistant/user/assistant/...")
    }

    func testUndefinedAttributeRaises() throws {
        try checkRaises("{{ nothing.attr }}",
                        context: "{}",
                        "UndefinedError", "'nothing' is undefined")
    }

    func testSandboxRefusesAppend() throws {
        try checkRaises("{% set l = [1] %}{{ l.append(2) }}",
                        context: "{}",
                        "SecurityError", "access to attribute 'append' of 'list' object is unsafe.")
    }

    func testTypeErrorOnAdd() throws {
        try checkRaises("{{ 'a' + 1 }}",
                        context: "{}",
                        "TypeError", "can only concatenate str (not \"int\") to str")
    }

    func testUnknownFilterInIfIsRuntime() throws {
        try check("{% if x %}{{ x|from_json }}{% endif %}ok",
                  context: "{\"x\": \"\"}",
                  "ok")
    }
}

/// Load-time rejection and the chat-level API.
final class TemplateLoadingTests: XCTestCase {
    func testUnsupportedConstructIsALoadErrorWithItsLine() {
        XCTAssertThrowsError(try ChatTemplate(source: "a\n{% if x %}\n{% include 'other.jinja' %}\n{% endif %}")) { error in
            XCTAssertEqual(error as? ChatTemplateError, .syntax("unsupported construct '{% include %}'", line: 3))
        }
        XCTAssertThrowsError(try ChatTemplate(source: "{{ x|truncate(3) }}")) { error in
            XCTAssertEqual(error as? ChatTemplateError, .syntax("unsupported filter 'truncate'", line: 1))
        }
    }

    func testUnknownFilterOutsideIfIsALoadError() {
        // jinja2: TemplateAssertionError "No filter named 'from_json'." at load time (outside an `if`).
        XCTAssertThrowsError(try ChatTemplate(source: "x\n{{ y|from_json }}")) { error in
            XCTAssertEqual(error as? ChatTemplateError, .syntax("No filter named 'from_json'.", line: 2))
        }
    }

    func testSyntaxErrorsNameTheLine() {
        XCTAssertThrowsError(try ChatTemplate(source: "ok\n\n{% for x in %}{% endfor %}")) { error in
            guard case .syntax(_, let line)? = error as? ChatTemplateError else { return XCTFail("\(error)") }
            XCTAssertEqual(line, 3)
        }
        XCTAssertThrowsError(try ChatTemplate(source: "{% if x %}never closed")) { error in
            guard case .syntax(let m, _)? = error as? ChatTemplateError else { return XCTFail("\(error)") }
            XCTAssertTrue(m.contains("endif"), m)
        }
    }

    func testRenderMessagesPassesTransformersContext() throws {
        // tools is None when absent (transformers passes tools=None), documents is None, extras are variables.
        let template = try ChatTemplate(source: """
            {{ bos_token }}{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}\
            {% if add_generation_prompt %}<assistant>{% endif %}|{{ tools is none }}|{{ documents is none }}|{{ enable_thinking }}
            """)
        let text = try template.render(messages: [["role": "user", "content": "hi"]], addGenerationPrompt: true,
                                       bosToken: "<s>", extra: ["enable_thinking": false])
        XCTAssertEqual(text, "<s><user>hi<assistant>|True|True|False")
    }
}
