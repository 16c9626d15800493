import Foundation
@testable import Tensors
import XCTest
import TestSupport

final class SafetensorsTests: XCTestCase {
    var dir: String!

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "latentserve-st-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    func write(_ tensors: [(String, [Int], [Float], DType)], sharded: Int? = nil) throws {
        var w = SafetensorsWriter()
        for (name, shape, values, dtype) in tensors { values.withUnsafeBufferPointer { w.add(name, shape: shape, values: $0, as: dtype) } }
        if let sharded { try w.writeSharded(directory: dir, maxShardBytes: sharded) } else { try w.write(to: dir + "/model.safetensors") }
    }

    func testRoundTripEveryDType() throws {
        let values: [Float] = [0, 1, -2.5, 3.140625, 1e-3, -65504, 0.1]
        try write([("a", [7], values, .f32), ("b", [7], values, .bf16), ("c", [7], values, .f16)])
        let store = try SafetensorsStore(directory: dir)
        XCTAssertEqual(store.tensorNames, ["a", "b", "c"])
        XCTAssertEqual(try store.load("a", shape: [7]).toArray(), values)
        let b = try store.load("b", shape: [7]).toArray(), c = try store.load("c", shape: [7]).toArray()
        assertClose(b, values, relTol: 1.0 / 128, elementwise: true, "bf16 keeps 8 bits of mantissa")
        assertClose(c, values, absTol: 1e-7, relTol: 1.0 / 1024, elementwise: true, "f16 keeps 11 bits")
        XCTAssertEqual(store.info("b")?.dtype, .bf16)
    }

    func testF16SubnormalsAndSpecials() {
        let bits: [UInt16] = [0x0001, 0x7C00, 0xFC00, 0x7E00, 0x3C00]
        var out = [Float](repeating: 0, count: bits.count)
        DTypeConversion.f16ToF32(bits, &out, count: bits.count)
        XCTAssertEqual(out[0], Float(5.9604645e-8))
        XCTAssertEqual(out[1], .infinity)
        XCTAssertEqual(out[2], -.infinity)
        XCTAssertTrue(out[3].isNaN)
        XCTAssertEqual(out[4], 1)
    }

    func testShardedCheckpointLoads() throws {
        try write([("x", [2, 3], [1, 2, 3, 4, 5, 6], .f32), ("y", [3], [7, 8, 9], .bf16), ("z", [1], [10], .f32)], sharded: 16)
        let files = try FileManager.default.contentsOfDirectory(atPath: dir).sorted()
        XCTAssertTrue(files.contains("model.safetensors.index.json"))
        XCTAssertGreaterThanOrEqual(files.filter { $0.hasPrefix("model-") }.count, 2)
        let store = try SafetensorsStore(directory: dir)
        XCTAssertEqual(try store.load("x", shape: [2, 3]).toArray(), [1, 2, 3, 4, 5, 6])
        XCTAssertEqual(try store.load("y", shape: [3]).toArray(), [7, 8, 9])
        XCTAssertEqual(try store.load("z", shape: [1]).toArray(), [10])
    }

    func testHandMadeHFFileLoads() throws {
        // Exactly what Python's safetensors writes: space-padded header, offsets relative to data.
        var header = #"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"__metadata__":{"format":"pt"}}"#
        while (header.utf8.count) % 8 != 0 { header += " " }
        var bytes = [UInt8]()
        withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { bytes += $0 }
        bytes += Array(header.utf8)
        withUnsafeBytes(of: Float(1.5)) { bytes += $0 }
        withUnsafeBytes(of: Float(-2)) { bytes += $0 }
        try Data(bytes).write(to: URL(fileURLWithPath: dir + "/model.safetensors"))
        let store = try SafetensorsStore(directory: dir)
        XCTAssertEqual(try store.load("w", shape: [2]).toArray(), [1.5, -2])
        XCTAssertEqual(store.metadata["format"], "pt")
    }

    // MARK: Broken files: one clear error each, naming what was wrong.

    func rawFile(header: String, dataBytes: Int) throws {
        var bytes = [UInt8]()
        withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { bytes += $0 }
        bytes += Array(header.utf8) + [UInt8](repeating: 0, count: dataBytes)
        try Data(bytes).write(to: URL(fileURLWithPath: dir + "/model.safetensors"))
    }

    func assertThrows(_ expected: (TensorError) -> Bool, mentions: String, _ body: () throws -> Void, file: StaticString = #filePath, line: UInt = #line) {
        do {
            try body()
            XCTFail("expected an error mentioning \(mentions)", file: file, line: line)
        } catch let e as TensorError {
            XCTAssertTrue(expected(e), "unexpected error \(e)", file: file, line: line)
            XCTAssertTrue(e.description.contains(mentions), "'\(e)' should mention \(mentions)", file: file, line: line)
        } catch {
            XCTFail("unexpected error type \(error)", file: file, line: line)
        }
    }

    func testMissingFolderAndWeights() {
        assertThrows({ if case .missingDirectory = $0 { true } else { false } }, mentions: "/nope") { _ = try SafetensorsStore(directory: "/nope") }
        assertThrows({ if case .noWeights = $0 { true } else { false } }, mentions: "model.safetensors") { _ = try SafetensorsStore(directory: self.dir) }
    }

    func testTruncatedData() throws {
        try rawFile(header: #"{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#, dataBytes: 8)
        assertThrows({ if case .dataPastEOF = $0 { true } else { false } }, mentions: "model.safetensors") { _ = try SafetensorsStore(directory: self.dir) }
    }

    func testHeaderLengthPastEnd() throws {
        var bytes = [UInt8]()
        withUnsafeBytes(of: UInt64(1 << 20).littleEndian) { bytes += $0 }
        bytes += Array("{}".utf8)
        try Data(bytes).write(to: URL(fileURLWithPath: dir + "/model.safetensors"))
        assertThrows({ if case .headerPastEOF = $0 { true } else { false } }, mentions: "header length 1048576") { _ = try SafetensorsStore(directory: self.dir) }
    }

    func testMalformedJSON() throws {
        try rawFile(header: "{not json", dataBytes: 0)
        assertThrows({ if case .malformedHeader = $0 { true } else { false } }, mentions: "JSON") { _ = try SafetensorsStore(directory: self.dir) }
    }

    func testUnknownDType() throws {
        try rawFile(header: #"{"q":{"dtype":"I8","shape":[4],"data_offsets":[0,4]}}"#, dataBytes: 4)
        // The store opens (other tensors stay loadable); loading the I8 tensor names it.
        let store = try SafetensorsStore(directory: dir)
        assertThrows({ if case .unknownDType = $0 { true } else { false } }, mentions: "'q'") { _ = try store.load("q", shape: [4]) }
    }

    func testOffsetsDisagreeWithShape() throws {
        try rawFile(header: #"{"q":{"dtype":"F32","shape":[4],"data_offsets":[0,12]}}"#, dataBytes: 12)
        assertThrows({ if case .rangeSizeMismatch = $0 { true } else { false } }, mentions: "needs 16") { _ = try SafetensorsStore(directory: self.dir) }
    }

    func testWrongShapeAndMissingTensor() throws {
        try write([("w", [2, 3], [1, 2, 3, 4, 5, 6], .f32)])
        let store = try SafetensorsStore(directory: dir)
        assertThrows({ if case .wrongShape = $0 { true } else { false } }, mentions: "[3, 2]") { _ = try store.load("w", shape: [3, 2]) }
        assertThrows({ if case .missingTensor = $0 { true } else { false } }, mentions: "'v'") { _ = try store.load("v", shape: [1]) }
    }

    func testIndexNamingMissingShard() throws {
        let index = #"{"metadata":{},"weight_map":{"w":"model-00001-of-00002.safetensors"}}"#
        try Data(index.utf8).write(to: URL(fileURLWithPath: dir + "/model.safetensors.index.json"))
        assertThrows({ if case .missingShard = $0 { true } else { false } }, mentions: "model-00001-of-00002") { _ = try SafetensorsStore(directory: self.dir) }
    }

    func testSeededRandomIsDeterministicAndNormal() {
        var a = SeededRandom(seed: 42), b = SeededRandom(seed: 42)
        let xs = (0..<20000).map { _ in a.nextNormal() }
        XCTAssertEqual(xs.prefix(10).map { $0 }, (0..<10).map { _ in b.nextNormal() })
        let mean = xs.reduce(0, +) / Float(xs.count)
        let variance = xs.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Float(xs.count)
        XCTAssertEqual(mean, 0, accuracy: 0.03)
        XCTAssertEqual(variance, 1, accuracy: 0.05)
    }
}
