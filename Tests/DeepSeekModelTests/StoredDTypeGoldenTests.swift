import DeepSeekModel
import Engine
import Foundation
import Tensors
import XCTest
import TestSupport

/// Checkpoints stored as BF16 / F16 / FP8 blocks (scripts/golden/stored_dtypes.py, plus the BF16
/// Hub-style folder): logits within 1e-4 relative of transformers in fp32 on exactly the values the
/// files encode, the same greedy tokens — with the weights kept as stored (`auto`) and converted
/// once to f32 or bf16 at load (bf16 only where that is lossless: BF16 files), from the mapped
/// files and from huge-page copies.
final class StoredDTypeGoldenTests: XCTestCase {
    static let folders = ["v2_bf16", "v3_bf16_hub", "v2_f16", "v3_f16", "v2_fp8", "v3_fp8"]

    func testLogitsAndGreedyTokensMatchTransformers() throws {
        for folder in Self.folders {
            var dtypes: [WeightsDType] = [.auto, .f32]
            if folder.contains("bf16") { dtypes.append(.bf16) }
            for dtype in dtypes {
                for residency in WeightResidency.allCases {
                    let dir = GoldenTests.goldenRoot + "/" + folder
                    let expected = try JSONDecoder().decode(GoldenTests.Expected.self, from: Data(contentsOf: URL(fileURLWithPath: dir + "/expected.json")))
                    let model = try DeepSeekTransformer(directory: dir, weightsDType: dtype, residency: residency)
                    XCTAssertEqual(model.weights.residency, residency)
                    let generator = Generator(model: model)
                    for (n, c) in expected.cases.enumerated() {
                        let label = "\(folder) as \(dtype) in \(residency) case \(n) (\(c.prompt_ids.count) tokens)"
                        let logits = try model.referencePrefill([c.prompt_ids]).logits[0]
                        assertClose(logits, c.last_logits, relTol: 1e-4, label)
                        let out = try generator.generate(prompts: [c.prompt_ids], params: [SamplingParams(maxNewTokens: c.greedy_tokens.count, ignoreEOS: true)])!
                        XCTAssertEqual(out[0].tokens, c.greedy_tokens, label)
                    }
                }
            }
        }
    }

    /// FP8 weights stay FP8 in memory under `auto` (the loader reads which tensors are FP8 from the
    /// file): the held bytes are about a quarter of the f32 conversion's.
    func testFP8WeightsStayFP8() throws {
        let dir = GoldenTests.goldenRoot + "/v3_fp8"
        let stored = try DeepSeekTransformer(directory: dir).weights
        let f32 = try DeepSeekTransformer(directory: dir, weightsDType: .f32).weights
        guard case .fp8E4M3(_, 32, 16, _) = stored.layers[1].attention.kvB.storage else {
            return XCTFail("kv_b should be FP8 with 32×16 blocks, found \(stored.layers[1].attention.kvB.storage)")
        }
        XCTAssertEqual(stored.embedding.storage, .bf16)
        // Every FP8 weight kept as stored was scanned free of NaN codes at load (decode then skips
        // its per-line test); views of it (W_UV's rows) keep that.
        for layer in stored.layers {
            let a = layer.attention
            for (name, m) in [("kv_b", a.kvB), ("o", a.o), ("W_UK[0]", a.keyAbsorption[0]), ("W_UV[0]", a.valueAbsorption[0])] {
                if case .fp8E4M3 = m.storage { XCTAssertTrue(m.freeOfNaNCodes, "\(name) not scanned") }
            }
        }
        // W_UK's transposed heads stay FP8 (heads of 32 rows on blocks of 32 rows) with the grid
        // transposed: element (j, d) of head h dequantizes to exactly kv_b's element (h·32 + d, j).
        let c = try DeepSeekConfig.load(directory: dir)
        let nope = c.qkNopeHeadDim, kvl = c.kvLoraRank, headRows = nope + c.vHeadDim
        for layer in stored.layers {
            let kvB = layer.attention.kvB
            var dequantized = [Float](repeating: 0, count: kvB.rows * kvl)
            kvB.convertRows(0..<kvB.rows, into: &dequantized)
            for (h, key) in layer.attention.keyAbsorption.enumerated() {
                guard case .fp8E4M3(_, 16, 32, _) = key.storage else { return XCTFail("head \(h): \(key.storage), expected FP8 16×32 blocks") }
                var transposed = [Float](repeating: 0, count: kvl * nope)
                key.convertRows(0..<kvl, into: &transposed)
                for j in 0..<kvl {
                    for d in 0..<nope where transposed[j * nope + d].bitPattern != dequantized[(h * headRows + d) * kvl + j].bitPattern {
                        return XCTFail("head \(h) (\(j), \(d)): \(transposed[j * nope + d]) vs kv_b's \(dequantized[(h * headRows + d) * kvl + j])")
                    }
                }
            }
        }
        // Heads of 40 rows over blocks of 32 (v2) cannot keep the grid: f32.
        let v2 = try DeepSeekTransformer(directory: GoldenTests.goldenRoot + "/v2_fp8").weights
        XCTAssertEqual(v2.layers[0].attention.keyAbsorption[1].storage, .f32)
        XCTAssertEqual(f32.layers[1].attention.o.storage, .f32)
        XCTAssertLessThan(Double(stored.weightBytes), 0.5 * Double(f32.weightBytes))
    }
}
