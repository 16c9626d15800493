@testable import Benchmarks
import XCTest

/// The rules both halves of the transfer benchmark must agree on.
final class TransferBenchTests: XCTestCase {
    /// The raw TCP stream: the layer's bytes repeated up to `total`, each layer cut into pieces of
    /// `pieceBytes` with a short last one; sender and receiver walk it with tcpPieceBytes.
    func testTCPPiecesNeverCrossALayerAndCoverTheTotal() {
        for (total, piece, layer) in [(100, 30, 45), (90, 45, 45), (7, 100, 3), (1 << 20, 4096, 2_304_000), (10, 1, 4)] {
            var expected: [Int] = []
            var left = total
            while left > 0 {                                              // layer by layer
                var inLayer = min(layer, left)
                left -= inLayer
                while inLayer > 0 { expected.append(min(piece, inLayer)); inLayer -= min(piece, inLayer) }
            }
            var walked: [Int] = []
            var sent = 0
            while sent < total {
                let n = TransferBench.tcpPieceBytes(at: sent, total: total, pieceBytes: piece, layerBytes: layer)
                walked.append(n)
                sent += n
            }
            XCTAssertEqual(walked, expected, "total \(total), piece \(piece), layer \(layer)")
        }
    }

    /// Layers per transfer round to the nearest whole layer, at least one (the sizes
    /// Tests/Integration/transport-throughput.sh checks).
    func testLayersPerTransfer() {
        XCTAssertEqual(TransferBench.layers(forTotal: 96 << 20, layerTokens: 16_384), 3)        // 96 / 36 MiB = 2.7
        XCTAssertEqual(TransferBench.layers(forTotal: 16 << 20, layerTokens: 1000), 7)          // 16 MiB / 2.304 MB = 7.3
        XCTAssertEqual(TransferBench.layers(forTotal: 2048 << 20, layerTokens: 16_384), 57)     // 2048 / 36 = 56.9
        XCTAssertEqual(TransferBench.layers(forTotal: 1, layerTokens: 16_384), 1)
    }
}
