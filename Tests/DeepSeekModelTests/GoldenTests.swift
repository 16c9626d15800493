import DeepSeekModel
import Engine
import Foundation
import KVCache
import XCTest
import TestSupport

/// HF transformers' own outputs on small random checkpoints (Tests/DeepSeekModelTests/Golden,
/// made by scripts/make-golden): last-position logits, every position's argmax, 16 greedy tokens.
final class GoldenTests: XCTestCase {
    struct Expected: Decodable {
        struct Case: Decodable {
            let prompt_ids: [Int32]
            let last_logits: [Float]
            let position_argmax: [Int]
            let greedy_tokens: [Int]
        }
        let cases: [Case]
    }

    static var goldenRoot: String {
        Bundle.module.url(forResource: "Golden", withExtension: nil)!.path
    }

    static var caseFolders: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: goldenRoot)) ?? [])
            .filter { FileManager.default.fileExists(atPath: goldenRoot + "/\($0)/expected.json") }.sorted()
    }

    func testGoldenFoldersArePresent() {
        XCTAssertGreaterThanOrEqual(Self.caseFolders.count, 5, "golden checkpoints missing under \(Self.goldenRoot)")
    }

    func testLastLogitsMatchTransformers() throws {
        for folder in Self.caseFolders {
            let (model, expected) = try load(folder)
            for (n, c) in expected.cases.enumerated() {
                let logits = try model.referencePrefill([c.prompt_ids]).logits[0]
                assertClose(logits, c.last_logits, relTol: 1e-3, "\(folder) case \(n) (\(c.prompt_ids.count) tokens)")
            }
        }
    }

    func testEveryPositionArgmaxMatchesTransformers() throws {
        // Position 0 by prefill, every later position by an absorbed decode step over the cache.
        for folder in Self.caseFolders {
            let (model, expected) = try load(folder)
            for (n, c) in expected.cases.enumerated() {
                let (first, cache, seqs) = try model.referencePrefill([[c.prompt_ids[0]]], extraCapacity: c.prompt_ids.count)
                var argmaxes = [argmax(first[0])]
                var logits = [Float](repeating: 0, count: model.config.vocabSize)
                for t in c.prompt_ids.dropFirst() {
                    try [t].withUnsafeBufferPointer { tok in
                        try seqs.withUnsafeBufferPointer { s in try model.decode(tokens: tok, sequences: s, cache: cache, logits: &logits) }
                    }
                    argmaxes.append(argmax(logits))
                }
                XCTAssertEqual(argmaxes, c.position_argmax, "\(folder) case \(n)")
            }
        }
    }

    /// The goldens were generated without an EOS stop (scripts/golden/verify.py: eos_token_id=None).
    func testGreedyTokensMatchTransformers() throws {
        for folder in Self.caseFolders {
            let (model, expected) = try load(folder)
            let generator = Generator(model: model)
            for (n, c) in expected.cases.enumerated() {
                let out = try generator.generate(prompts: [c.prompt_ids], params: [SamplingParams(maxNewTokens: c.greedy_tokens.count, ignoreEOS: true)])!
                XCTAssertEqual(out[0].tokens, c.greedy_tokens, "\(folder) case \(n)")
            }
        }
    }

    private func load(_ folder: String) throws -> (DeepSeekTransformer, Expected) {
        let dir = Self.goldenRoot + "/" + folder
        let expected = try JSONDecoder().decode(Expected.self, from: Data(contentsOf: URL(fileURLWithPath: dir + "/expected.json")))
        return (try DeepSeekTransformer(directory: dir), expected)
    }
}
