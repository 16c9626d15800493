@testable import Benchmarks
import DeepSeekModel
import Foundation
import KVCache
import TinyModelSupport
import XCTest

/// Decode's floor counts the bytes a step streams: of a MoE layer only the routed experts the
/// step's tokens selected. Checked on the tiny model (3 layers: 1 dense, 2 MoE with 8 experts top-2
/// + 1 shared, f32) against a count written out by hand from its shapes.
final class DecodeStepBytesTests: XCTestCase {
    static let directory = TinyModel.directory

    /// Bytes of one tiny routed expert (gate, up [32, 64], down [64, 32], f32).
    static let expertBytes = 3 * 64 * 32 * 4

    func testFloorCountsOnlyTheSelectedExpertsAndTheAttendedCache() throws {
        let model = try DeepSeekTransformer(directory: Self.directory)
        let c = model.config
        XCTAssertEqual([c.routedExperts, c.numExpertsPerTok, c.hiddenSize, c.moeIntermediateSize], [8, 2, 64, 32])
        let held = model.weights.decodeStreamedRegions.reduce(0) { $0 + $1.count }
        for dtype in LatentDType.allCases {
            for batch in [1, 4] {
                let cache = try PagedLatentCache(layers: c.numHiddenLayers, rowWidth: c.latentRowWidth, pageSize: 4, pageCount: 64, dtype: dtype)
                let sequences = try (0..<batch).map { _ in try cache.allocate(capacity: 12) }
                try SyntheticContext.fill(cache, sequences: sequences, rows: 5)
                var logits = [Float](repeating: 0, count: batch * c.vocabSize)
                let tokens = (0..<batch).map { Int32(3 + 101 * $0) }
                try tokens.withUnsafeBufferPointer { t in
                    try sequences.withUnsafeBufferPointer { s in try model.decode(tokens: t, sequences: s, cache: cache, logits: &logits) }
                }
                let step = DecodeStepBytes.lastStep(of: model, attended: [Int](repeating: 6, count: batch), cache: cache)
                // By hand: everything held, minus the experts no token chose in each MoE layer.
                var selected = 0
                for layer in 1...2 {
                    let chosen = model.expertsComputedInLastForward(layer: layer)
                    XCTAssertTrue(chosen.count >= 2 && chosen.count <= min(8, 2 * batch), "layer \(layer): \(chosen)")
                    if batch == 1 { XCTAssertEqual(chosen.count, 2) }
                    selected += chosen.count
                }
                XCTAssertTrue(model.expertsComputedInLastForward(layer: 0).isEmpty, "dense layer")
                XCTAssertEqual(step.weights, held - (16 - selected) * Self.expertBytes, "\(dtype) batch \(batch)")
                XCTAssertEqual(step.kvCache, batch * 6 * 3 * 48 * dtype.byteWidth, "rows attended × layers × row width × element")
                XCTAssertEqual(step.total, step.weights + step.kvCache)
            }
        }
    }
}
