import Foundation
import Tokenizer
import XCTest

/// The regex engine against Oniguruma as HF tokenizers runs it: Split(Regex, isolated) pieces for the
/// pre-tokenizer patterns and one pattern per supported construct, over generated and targeted strings.
final class RegexReferenceTests: XCTestCase {
    func testIsolatedPiecesMatchOniguruma() throws {
        let url = try ReferenceFixtures.directory().appendingPathComponent("regex/expected.json")
        let json = try JSONValue.parse(Array(try Data(contentsOf: url)), file: "regex/expected.json")
        let cases = try XCTUnwrap(json["cases"]?.array)
        var compiled: [String: OnigRegex] = [:]
        var mismatches: [String] = []
        var failingPatterns: [String: Int] = [:]
        for c in cases {
            let pattern = try XCTUnwrap(c["pattern"]?.string), text = try XCTUnwrap(c["text"]?.string)
            let want = try XCTUnwrap(c["pieces"]?.array).compactMap(\.string)
            let regex = try compiled[pattern] ?? OnigRegex(pattern)
            compiled[pattern] = regex
            let got = isolatedPieces(regex, text)
            if !got.elementsEqual(want, by: sameScalars) {
                failingPatterns[pattern, default: 0] += 1
                if failingPatterns[pattern]! > 2 { continue }
                mismatches.append("\(pattern.debugDescription) on \(text.debugDescription): got \(got), want \(want)")
            }
        }
        FileHandle.standardError.write(Data("regex reference: \(compiled.count) patterns, \(cases.count) cases, \(failingPatterns.values.reduce(0, +)) mismatches\n".utf8))
        XCTAssertEqual(failingPatterns, [:], mismatches.prefix(12).joined(separator: "\n"))
    }

    /// Matches and the gaps between them, empty ones dropped (HF's Isolated split).
    private func isolatedPieces(_ regex: OnigRegex, _ text: String) -> [String] {
        let s = text.unicodeScalars.map(\.value)
        var out: [String] = []
        func piece(_ a: Int, _ b: Int) {
            guard a < b else { return }
            var v = String.UnicodeScalarView()
            v.append(contentsOf: s[a..<b].map { Unicode.Scalar($0)! })
            out.append(String(v))
        }
        var prev = 0
        for (a, b) in regex.matches(in: s) {
            piece(prev, a)
            piece(a, b)
            prev = b
        }
        piece(prev, s.count)
        return out
    }
}
