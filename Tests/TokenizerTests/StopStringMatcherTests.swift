import Tokenizer
import TestSupport
import XCTest

/// Stop strings as OpenAI / vLLM define them, checked against a direct reference: the output is the
/// full text cut before the earliest occurrence of any stop string, whatever the piece boundaries;
/// streamed pieces never contain part of a stop string.
final class StopStringMatcherTests: XCTestCase {
    /// The reference: cut at the earliest match over all stops (by Unicode scalar, like Python str.find).
    private func reference(_ text: String, _ stops: [String]) -> (String, String?) {
        let scalars = Array(text.unicodeScalars)
        var best: (Int, String)?
        for stop in stops where !stop.isEmpty {
            let s = Array(stop.unicodeScalars)
            guard s.count <= scalars.count else { continue }
            for i in 0...(scalars.count - s.count) where Array(scalars[i..<i + s.count]) == s {
                if best == nil || i < best!.0 { best = (i, stop) }
                break
            }
        }
        guard let best else { return (text, nil) }
        return (String(String.UnicodeScalarView(scalars[..<best.0])), best.1)
    }

    private func run(_ pieces: [String], _ stops: [String], file: StaticString = #filePath, line: UInt = #line) {
        var matcher = StopStringMatcher(stops)
        var out = ""
        for piece in pieces {
            let released = matcher.feed(piece)
            // Nothing released may end with the start of a stop string that is still undecided.
            out += released
            if matcher.matched != nil { break }
        }
        out += matcher.finish()
        let (want, stop) = reference(pieces.joined(), stops)
        XCTAssertEqual(out, want, "pieces \(pieces) stops \(stops)", file: file, line: line)
        // Several stops may start at the cut; the stream reports the one that completed first.
        XCTAssertEqual(matcher.matched == nil, stop == nil, file: file, line: line)
        if let matched = matcher.matched {
            XCTAssertTrue(String(pieces.joined().unicodeScalars.dropFirst(want.unicodeScalars.count)).hasPrefix(matched),
                          "\(matched) does not start at the cut", file: file, line: line)
        }
    }

    func testMatchesAcrossPieceBoundariesAndCutsBeforeTheStop() {
        run(["Hello", " wor", "ld", "!"], ["world"])
        run(["Hel", "lo\n", "\nUser:", " hi"], ["\n\nUser:"])
        run(["abc"], ["c", "bc"])                        // earliest start wins: "bc" starts first
        run(["a", "b", "c"], ["bcd"])                    // a held prefix that never completes is released at the end
        run(["x", "STO", "P"], ["STOP", "TOP"])
        run(["no stop here"], [])
        run(["你好", "世", "界。"], ["世界"])
        run(["🙂", "a"], ["🙂a"])
        run(["e\u{301}", "x"], ["\u{301}x"])             // a stop inside a grapheme still matches (scalars)
    }

    func testNothingAfterAMatchAndNoPartialStopIsReleased() {
        var matcher = StopStringMatcher(["</s>"])
        XCTAssertEqual(matcher.feed("text<"), "text")    // "<" may start the stop: held
        XCTAssertEqual(matcher.feed("/"), "")
        XCTAssertEqual(matcher.feed("x"), "</x")         // not a stop after all: released
        XCTAssertEqual(matcher.feed("</s>more"), "")
        XCTAssertEqual(matcher.matched, "</s>")
        XCTAssertEqual(matcher.feed("later"), "")
        XCTAssertEqual(matcher.finish(), "")
    }

    /// Random texts cut at random places against the reference.
    func testRandomSplits() {
        var g = SplitMix64(seed: 0x5709)
        let alphabet = Array("ab c\n<>/é🙂")
        for _ in 0..<2000 {
            let text = String((0..<Int.random(in: 0...24, using: &g)).map { _ in alphabet.randomElement(using: &g)! })
            let stops = (0..<Int.random(in: 0...3, using: &g)).map { _ in
                String((0..<Int.random(in: 1...4, using: &g)).map { _ in alphabet.randomElement(using: &g)! })
            }
            var pieces: [String] = [], rest = Substring(text)
            while !rest.isEmpty {
                let n = Int.random(in: 1...max(1, rest.count), using: &g)
                pieces.append(String(rest.prefix(n))); rest = rest.dropFirst(n)
            }
            run(pieces, stops)
        }
    }
}
