import TestSupport
import XCTest
@testable import StructuredOutput

/// NumberRange's patterns against the values themselves: for random bounds (inclusive or exclusive, one
/// side open), every spelling of −1,250…1,250 with no, one or two fraction digits is matched exactly when
/// it is the served spelling (no exponent, no leading zeros, no negative zero; integers without a
/// fraction) of a value within the bounds.
final class NumberRangeTests: XCTestCase {
    /// Every spelling tried, with its value in hundredths.
    private static let spellings: [(text: String, hundredths: Int)] = {
        var all: [(String, Int)] = []
        for whole in 0...1250 {
            for sign in ["", "-"] {
                all.append(("\(sign)\(whole)", (sign == "-" ? -1 : 1) * whole * 100))
                for f in 0..<100 where f % 7 == 0 || f == 0 || f == 50 {
                    let two = f < 10 ? "0\(f)" : "\(f)"
                    all.append(("\(sign)\(whole).\(two)", (sign == "-" ? -1 : 1) * (whole * 100 + f)))
                    if f % 10 == 0 { all.append(("\(sign)\(whole).\(f / 10)", (sign == "-" ? -1 : 1) * (whole * 100 + f))) }
                }
            }
        }
        return all + [("00", 0), ("01", 100), ("-01.5", -150), ("1e2", 10_000), ("1.", 100), (".5", 50), ("+1", 100)]
    }()

    func testPatternsMatchExactlyTheValuesWithinTheBounds() throws {
        var random = SplitMix64(seed: 11)
        for round in 0..<60 {
            let integerOnly = round % 3 == 0
            func bound() -> NumberRange.Bound? {
                Int.random(in: 0..<4, using: &random) == 0 ? nil
                    : NumberRange.Bound(value: Int64.random(in: -1200...1200, using: &random) / Int64([1, 10, 100][round % 3]), exclusive: Bool.random(using: &random))
            }
            let lower = bound(), upper = bound()
            guard let pattern = NumberRange.pattern(lower: lower, upper: upper, integerOnly: integerOnly) else {
                // Empty: no value is within the bounds.
                let l = lower!, u = upper!
                XCTAssertTrue(l.value > u.value || (l.value == u.value && (l.exclusive || u.exclusive))
                              || (integerOnly && l.value + 1 == u.value && l.exclusive && u.exclusive), "\(l) \(u)")
                continue
            }
            let automaton = try RegexAutomaton(pattern: pattern)
            for (text, hundredths) in Self.spellings {
                let canonical = !text.hasPrefix("+") && !text.contains("e") && !text.hasSuffix(".") && !text.hasPrefix(".") && !text.hasPrefix("-.")
                    && !(text.hasPrefix("0") && text.count > 1 && !text.hasPrefix("0.")) && !(text.hasPrefix("-0") && !text.hasPrefix("-0."))
                    && !(text.hasPrefix("-") && hundredths == 0) && !(integerOnly && text.contains("."))
                let above = lower.map { hundredths > Int($0.value) * 100 || (!$0.exclusive && hundredths == Int($0.value) * 100) } ?? true
                let below = upper.map { hundredths < Int($0.value) * 100 || (!$0.exclusive && hundredths == Int($0.value) * 100) } ?? true
                XCTAssertEqual(automaton.matches(Array(text.utf8)), canonical && above && below,
                               "\(text) in \(lower.map { "\($0)" } ?? "-∞") … \(upper.map { "\($0)" } ?? "∞") integerOnly \(integerOnly): \(pattern)")
            }
        }
    }

    func testSchemaBoundsRoundInwardAndRefuseWhatCannotBeServed() {
        func refusal(_ json: String) -> String? {
            do { _ = try JSONSchema(json: Array(json.utf8)); return nil } catch { return error.path }
        }
        XCTAssertNil(refusal(#"{"type": "integer", "minimum": 0.5, "exclusiveMaximum": 3.5}"#))
        XCTAssertNil(refusal(#"{"type": "number", "minimum": 0, "maximum": 1.0}"#))
        XCTAssertEqual(refusal(#"{"type": "number", "minimum": 0.5}"#), "minimum", "a number's bound must be whole")
        XCTAssertEqual(refusal(#"{"type": "integer", "minimum": 1e300}"#), "minimum")
        XCTAssertEqual(refusal(#"{"type": "integer", "exclusiveMinimum": true}"#), "exclusiveMinimum", "draft 4's boolean form")
        XCTAssertEqual(refusal(#"{"type": "integer", "minimum": 2.5, "maximum": 2.6}"#), "maximum", "no integer within")
        XCTAssertEqual(refusal(#"{"type": "number", "exclusiveMinimum": 2, "maximum": 2}"#), "maximum")
        XCTAssertEqual(refusal(#"{"type": "integer", "multipleOf": 2}"#), "multipleOf")
    }
}
