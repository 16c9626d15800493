import Basics
@testable import DeepSeekModel
import Foundation
import Kernels
import Tensors
import TestSupport
import TinyModelSupport
import XCTest

/// The MLP over slices of its intermediate dimension (`FeedForward.blocking`) against the SwiGLU
/// MLP in Double on the weights the matrices encode: gate ‖ up fused into one f32 part or stored
/// as bf16 / FP8 parts, slices ending in a partial one, row blocks down to the skinny path, and
/// FP8 blocks a slice cannot start on (the MLP then runs unsliced).
final class SlicedMLPTests: XCTestCase {
    func testSlicedMLPEqualsTheWholeMLP() throws {
        let config = try TinyModel.load().config
        let h = config.hiddenSize, inter = 200, rows = 70
        var g = SeededRandom(seed: 21)
        let x = (0..<rows * h).map { _ in Float.random(in: -1...1, using: &g) }
        let initial = (0..<rows * h).map { _ in Float.random(in: -1...1, using: &g) }
        for (name, weights) in [("f32 fused", MLPFixture(.f32, h: h, inter: inter, seed: 1)),
                                ("bf16", MLPFixture(.bf16, h: h, inter: inter, seed: 2)),
                                ("fp8 128-blocks", MLPFixture(.fp8(block: 128), h: h, inter: inter, seed: 3)),
                                ("fp8 48-blocks (unsliced)", MLPFixture(.fp8(block: 48), h: h, inter: inter, seed: 4))] {
            XCTAssertEqual(weights.mlp.hasViews(slice: 128), name != "fp8 48-blocks (unsliced)", name)
            let expected = weights.reference(x, rows: rows, adding: initial)
            // Whole; slices of 128 + 72 columns; slices in row blocks of 32, 32 and 6 (the skinny path).
            for (floats, maxRows) in [(FeedForward.blockFloats, FeedForward.maxBlockRows), (30_000, FeedForward.maxBlockRows), (12_000, 32)] {
                XCTAssertEqual(FeedForward.blocking(rows: rows, inter: inter, floats: floats, maxRows: maxRows).slice,
                               floats == FeedForward.blockFloats ? inter : 128)
                let feedForward = FeedForward(config: config)
                var out = initial
                feedForward.mlp(weights.mlp, x: x, rows: rows, into: &out, accumulate: true, blockFloats: floats, maxBlockRows: maxRows)
                for i in 0..<rows * h {
                    XCTAssertEqual(Double(out[i]), expected[i], accuracy: 1e-4 * max(1, abs(expected[i])),
                                   "\(name), \(floats) floats, blocks of \(maxRows) rows: element \(i)")
                }
            }
        }
    }

    func testBlockingKeepsSlicesEvenAndWhole() {
        XCTAssertTrue(FeedForward.blocking(rows: 512, inter: 5632) == (512, 5632))
        XCTAssertTrue(FeedForward.blocking(rows: 1024, inter: 5632) == (1024, 2816))
        XCTAssertTrue(FeedForward.blocking(rows: 4096, inter: 5632) == (4096, 1024))
        XCTAssertTrue(FeedForward.blocking(rows: 9000, inter: 10944) == (4096, 1024))
        XCTAssertTrue(FeedForward.blocking(rows: 4096, inter: 100) == (4096, 100))
    }
}

/// Gate, up and down weights of one SwiGLU MLP with random values in a stored dtype.
private final class MLPFixture {
    enum DType { case f32, bf16, fp8(block: Int) }
    let mlp: MLPWeights
    private let buffers: [UnsafeMutableRawPointer]
    private let h: Int, inter: Int

    init(_ dtype: DType, h: Int, inter: Int, seed: UInt64) {
        self.h = h; self.inter = inter
        var g = SeededRandom(seed: seed)
        var buffers: [UnsafeMutableRawPointer] = []
        func matrix(rows: Int, cols: Int) -> WeightMatrix {
            switch dtype {
            case .f32:
                let p = UnsafeMutablePointer<Float>.allocate(capacity: rows * cols)
                for i in 0..<rows * cols { p[i] = Float.random(in: -0.2...0.2, using: &g) }
                buffers.append(UnsafeMutableRawPointer(p))
                return WeightMatrix(f32: p, rows: rows, cols: cols)
            case .bf16:
                let p = UnsafeMutablePointer<UInt16>.allocate(capacity: rows * cols)
                for i in 0..<rows * cols { p[i] = BFloat16.bits(from: Float.random(in: -0.2...0.2, using: &g)) }
                buffers.append(UnsafeMutableRawPointer(p))
                return WeightMatrix(storage: .bf16, base: UnsafeRawPointer(p), rows: rows, cols: cols)
            case .fp8(let block):
                let p = UnsafeMutablePointer<UInt8>.allocate(capacity: rows * cols)
                for i in 0..<rows * cols {
                    var q = UInt8.random(in: 0...255, using: &g)
                    if q & 0x7F == 0x7F { q ^= 1 }                        // no NaN
                    p[i] = q
                }
                let gridRows = (rows + block - 1) / block, gridCols = (cols + block - 1) / block
                let scales = UnsafeMutablePointer<Float>.allocate(capacity: gridRows * gridCols)
                for i in 0..<gridRows * gridCols { scales[i] = Float.random(in: 1e-3...1e-2, using: &g) }
                buffers += [UnsafeMutableRawPointer(p), UnsafeMutableRawPointer(scales)]
                return WeightMatrix(storage: .fp8E4M3(scales: scales, blockRows: block, blockCols: block, scaleStride: gridCols),
                                    base: UnsafeRawPointer(p), rows: rows, cols: cols)
            }
        }
        let gateUp: StackedWeight
        if case .f32 = dtype { gateUp = StackedWeight([matrix(rows: 2 * inter, cols: h)]) }
        else { gateUp = StackedWeight([matrix(rows: inter, cols: h), matrix(rows: inter, cols: h)]) }
        let down = matrix(rows: h, cols: inter)
        mlp = MLPWeights(gateUp: gateUp, down: down, inter: inter)
        self.buffers = buffers
    }

    deinit { for b in buffers { b.deallocate() } }

    /// initial + down · (silu(gate · x) ⊙ up · x) per row, in Double on the decoded weights.
    func reference(_ x: [Float], rows: Int, adding initial: [Float]) -> [Double] {
        func decoded(_ w: WeightMatrix) -> [Float] {
            var out = [Float](repeating: 0, count: w.rows * w.cols)
            w.convertRows(0..<w.rows, into: &out)
            return out
        }
        let gateUp = mlp.gateUp.parts.flatMap(decoded), down = decoded(mlp.down)
        var out = initial.map(Double.init)
        for r in 0..<rows {
            var act = [Double](repeating: 0, count: inter)
            for j in 0..<inter {
                var gate = 0.0, up = 0.0
                for c in 0..<h {
                    gate += Double(gateUp[j * h + c]) * Double(x[r * h + c])
                    up += Double(gateUp[(inter + j) * h + c]) * Double(x[r * h + c])
                }
                act[j] = gate / (1 + exp(-gate)) * up
            }
            for o in 0..<h {
                var sum = 0.0
                for j in 0..<inter { sum += Double(down[o * inter + j]) * act[j] }
                out[r * h + o] += sum
            }
        }
        return out
    }
}
