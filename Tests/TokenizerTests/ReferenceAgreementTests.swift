import Foundation
import Tokenizer
import XCTest

/// Ours against HF `tokenizers` (and tiktoken) on real vocabularies: llama.cpp's .inp strings and a seeded corpus.
final class ReferenceAgreementTests: XCTestCase {
    func testDeepSeekLLM() throws { try check("deepseek-llm") }
    func testDeepSeekCoder() throws { try check("deepseek-coder") }
    func testDeepSeekV3PreTokenizer() throws { try check("deepseek-v3") }
    func testOtherComponents() throws { try check("components") }
    func testOtherComponentsWithByteFallback() throws { try check("components-fallback") }
    /// A Moonshot-style tiktoken folder (Llama 3's real ranks, Kimi's pattern and control tokens) against
    /// tiktoken itself.
    func testKimiTikToken() throws { try check("kimi-tiktoken") }

    private func check(_ variant: String) throws {
        let (folder, inpCount, cases) = try ReferenceFixtures.cases(variant)
        let tokenizer = try Tokenizer(folder: folder)
        var mismatches: [String] = []
        var byKind: [String: Int] = [:]
        func note(_ what: String, _ c: ReferenceFixtures.Case, _ got: Any, _ want: Any) {
            byKind[what, default: 0] += 1
            if byKind[what]! <= 3 { mismatches.append("\(what) \(c.text.debugDescription): got \(got), want \(want)") }
            else { mismatches.append("") }
        }
        for c in cases {
            let ids = tokenizer.encode(c.text, addSpecialTokens: false)
            if ids != c.ids { note("encode", c, ids, c.ids) }
            let idsSpecial = tokenizer.encode(c.text, addSpecialTokens: true)
            if idsSpecial != c.idsSpecial { note("encode+special", c, idsSpecial, c.idsSpecial) }
            let decoded = tokenizer.decode(c.ids, skipSpecialTokens: false)
            if !sameScalars(decoded, c.decoded) { note("decode", c, decoded.debugDescription, c.decoded.debugDescription) }
            if variant.hasPrefix("deepseek") || variant == "kimi-tiktoken" {
                // Byte-level: the tokens' own bytes (OpenAI logprobs' `bytes`) join into the text, split characters included.
                let joined = String(decoding: c.ids.flatMap { tokenizer.bytes(of: $0) }, as: UTF8.self)
                if !sameScalars(joined, c.decoded) { note("bytes(of:)", c, joined.debugDescription, c.decoded.debugDescription) }
            }
            let decodedSkip = tokenizer.decode(c.ids, skipSpecialTokens: true)
            if !sameScalars(decodedSkip, c.decodedSkip) { note("decode(skip)", c, decodedSkip.debugDescription, c.decodedSkip.debugDescription) }
            for skip in [true, false] {
                var stream = IncrementalDetokenizer(tokenizer: tokenizer, skipSpecialTokens: skip)
                var text = ""
                let want = skip ? c.decodedSkip : c.decoded
                for id in c.ids {
                    let piece = stream.append(id)
                    // A character still incomplete is held back, never emitted as U+FFFD.
                    if piece.unicodeScalars.last == "\u{FFFD}", !want.unicodeScalars.contains("\u{FFFD}") {
                        note("stream piece ends mid-character", c, piece.debugDescription, "no U+FFFD")
                    }
                    text += piece
                }
                text += stream.finish()
                if !sameScalars(text, want) { note("stream(skip: \(skip))", c, text.debugDescription, want.debugDescription) }
            }
        }
        let summary = "tokenizer reference \(variant): \(cases.count) strings (\(inpCount) from llama.cpp .inp), \(mismatches.count) mismatches \(byKind)\n"
        FileHandle.standardError.write(Data(summary.utf8))
        let details = mismatches.filter { !$0.isEmpty }.joined(separator: "\n")
        XCTAssertEqual(mismatches.count, 0, String(details.unicodeScalars.map { $0.isASCII ? Character($0) : Character($0) }.prefix(4000)))
        XCTAssertGreaterThanOrEqual(cases.count - inpCount, ReferenceFixtures.corpusSize)
    }
}
