import XCTest
@testable import Tensors
import TestSupport

final class SafetensorsRoundTripTests: XCTestCase {
    private var dir: TemporaryDirectory!

    override func setUpWithError() throws { dir = try TemporaryDirectory() }
    override func tearDown() { dir.remove() }

    private func sample(_ count: Int, seed: UInt64) -> [Float] {
        var rng = SeededRandom(seed: seed)
        return (0..<count).map { _ in rng.nextNormal() * 3 }
    }

    private func writeAll(_ tensors: [(String, [Int], [Float], DType)], to path: String) throws {
        var writer = SafetensorsWriter()
        for (name, shape, values, dtype) in tensors {
            values.withUnsafeBufferPointer { writer.add(name, shape: shape, values: $0, as: dtype) }
        }
        try writer.write(to: path)
    }

    func testF32RoundTripIsExactAndZeroCopy() throws {
        let values = sample(6 * 5, seed: 1)
        try writeAll([("w", [6, 5], values, .f32), ("b", [5], Array(values[0..<5]), .f32)], to: dir.file("model.safetensors"))
        let store = try SafetensorsStore(directory: dir.path)
        XCTAssertEqual(store.tensorNames, ["b", "w"])
        XCTAssertEqual(store.metadata, ["format": "pt"])
        let w = try store.load("w", shape: [6, 5])
        XCTAssertEqual(w.toArray().map(\.bitPattern), values.map(\.bitPattern))
        XCTAssertTrue(w.isView, "4-byte aligned F32 loads without a copy")
        let info = try XCTUnwrap(store.info("w"))
        XCTAssertEqual(info.dtype, .f32)
        XCTAssertEqual(info.byteCount, 120)
        XCTAssertEqual(info.file, "model.safetensors")
        XCTAssertTrue(store.contains("b"))
        XCTAssertFalse(store.contains("c"))
    }

    func testViewOutlivesStoreAndWritesNeverReachTheFile() throws {
        let path = dir.file("model.safetensors")
        try writeAll([("w", [4], [1, 2, 3, 4], .f32)], to: path)
        let before = try readBytes(path)
        var store: SafetensorsStore? = try SafetensorsStore(directory: dir.path)
        let w = try store!.load("w", shape: [4])
        store = nil                       // the mapping must stay alive for `w`
        XCTAssertEqual(w.toArray(), [1, 2, 3, 4])
        w.pointer[0] = 42                 // private copy-on-write page
        XCTAssertEqual(w.pointer[0], 42)
        XCTAssertEqual(try readBytes(path), before)
    }

    func testBF16RoundTripWithinHalfUlp() throws {
        let values = sample(257, seed: 2)
        try writeAll([("x", [257], values, .bf16)], to: dir.file("model.safetensors"))
        let store = try SafetensorsStore(directory: dir.path)
        XCTAssertEqual(store.info("x")?.dtype, .bf16)
        let loaded = try store.load("x", shape: [257]).toArray()
        // bf16 keeps 8 significant bits: error at most half an ulp = 2^-8 relative.
        assertClose(loaded, values, relTol: 0x1p-8, elementwise: true, "bf16 round trip")
        for l in loaded { XCTAssertEqual(l.bitPattern & 0xFFFF, 0) }
    }

    func testF16RoundTripWithinHalfUlp() throws {
        let values = sample(300, seed: 3) + [1e-6, -3e-7, 65504, 0]
        try writeAll([("x", [values.count], values, .f16)], to: dir.file("model.safetensors"))
        let loaded = try SafetensorsStore(directory: dir.path).load("x", shape: [values.count]).toArray()
        // 11 significant bits for normals, absolute 2^-25 in the subnormal range.
        assertClose(loaded, values, absTol: 0x1p-25, relTol: 0x1p-11, elementwise: true, "f16 round trip")
        assertBitIdentical(loaded, values.map { Float(Float16($0)) }, "f16 round trip equals Float16(v)")
    }

    func testMixedDTypesScalarsAndEmptyTensors() throws {
        try writeAll([("h", [2], [0.5, -1], .f16), ("g", [1, 2], [2, 3], .bf16), ("scalar", [], [7], .f32),
                      ("empty", [0, 4], [], .f32)], to: dir.file("model.safetensors"))
        let store = try SafetensorsStore(directory: dir.path)
        XCTAssertEqual(try store.load("h", shape: [2]).toArray(), [0.5, -1])
        XCTAssertEqual(try store.load("g", shape: [1, 2]).toArray(), [2, 3])
        XCTAssertEqual(try store.load("scalar", shape: []).toArray(), [7])
        XCTAssertEqual(try store.load("empty", shape: [0, 4]).count, 0)
        XCTAssertEqual(try store.load("g").shape, [1, 2])
    }

    func testStoreOpensASingleFilePathToo() throws {
        let path = dir.file("weights.safetensors")
        try writeAll([("a", [2], [1, 2], .f32)], to: path)
        let store = try SafetensorsStore(directory: path)
        XCTAssertEqual(try store.load("a", shape: [2]).toArray(), [1, 2])
        XCTAssertEqual(store.files, ["weights.safetensors"])
    }

    func testCustomMetadataIsWrittenSortedAndReadBack() throws {
        var writer = SafetensorsWriter()
        [Float(1)].withUnsafeBufferPointer { writer.add("a", shape: [1], values: $0, as: .f32) }
        try writer.write(to: dir.file("model.safetensors"), metadata: ["format": "pt", "author": "a\"b/c\n"])
        let bytes = try readBytes(dir.file("model.safetensors"))
        let header = String(decoding: bytes[8..<min(bytes.count, 8 + 80)], as: UTF8.self)
        XCTAssertTrue(header.hasPrefix("{\"__metadata__\":{\"author\":\"a\\\"b/c\\n\",\"format\":\"pt\"}"), header)
        XCTAssertEqual(try SafetensorsStore(directory: dir.path).metadata, ["format": "pt", "author": "a\"b/c\n"])
    }

    func testShardedWriteAndRead() throws {
        var writer = SafetensorsWriter()
        var expected: [String: [Float]] = [:]
        for i in 0..<5 {
            let values = sample(10 + i, seed: UInt64(10 + i))   // 40..56 bytes as f32
            expected["layers.\(i).w"] = values
            values.withUnsafeBufferPointer { writer.add("layers.\(i).w", shape: [values.count], values: $0, as: i == 3 ? .bf16 : .f32) }
        }
        try writer.writeSharded(directory: dir.path, maxShardBytes: 100)
        // Insertion order, ≤ 100 bytes per shard: [0, 1] 40+44, [2, 3] 48+26, [4] 56.
        let names = ["model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors", "model-00003-of-00003.safetensors"]
        for n in names { XCTAssertEqual(FileSystem.kind(of: dir.file(n)), .file, n) }
        let index = String(decoding: try readBytes(dir.file("model.safetensors.index.json")), as: UTF8.self)
        XCTAssertEqual(index, """
            {
              "metadata": {
                "total_size": 214
              },
              "weight_map": {
                "layers.0.w": "model-00001-of-00003.safetensors",
                "layers.1.w": "model-00001-of-00003.safetensors",
                "layers.2.w": "model-00002-of-00003.safetensors",
                "layers.3.w": "model-00002-of-00003.safetensors",
                "layers.4.w": "model-00003-of-00003.safetensors"
              }
            }

            """)
        let store = try SafetensorsStore(directory: dir.path)
        XCTAssertEqual(store.files, names)
        XCTAssertEqual(store.tensorNames, expected.keys.sorted())
        XCTAssertEqual(store.info("layers.4.w")?.file, names[2])
        XCTAssertEqual(store.metadata, ["format": "pt"])
        for (name, values) in expected where name != "layers.3.w" {
            XCTAssertEqual(try store.load(name, shape: [values.count]).toArray(), values, name)
        }
        XCTAssertEqual(try store.load("layers.3.w", shape: [13]).toArray().count, 13)
    }

    func testShardedWriteReplacesAStaleSingleFile() throws {
        try writeAll([("old", [1], [1], .f32)], to: dir.file("model.safetensors"))
        var writer = SafetensorsWriter()
        [Float(2)].withUnsafeBufferPointer { writer.add("new", shape: [1], values: $0, as: .f32) }
        try writer.writeSharded(directory: dir.path, maxShardBytes: 1 << 20)
        XCTAssertEqual(FileSystem.kind(of: dir.file("model.safetensors")), .missing)
        XCTAssertEqual(try SafetensorsStore(directory: dir.path).tensorNames, ["new"])
    }

    func testDuplicateNamesAreRejectedAtWrite() throws {
        var writer = SafetensorsWriter()
        [Float(1)].withUnsafeBufferPointer {
            writer.add("a", shape: [1], values: $0, as: .f32)
            writer.add("a", shape: [1], values: $0, as: .bf16)
        }
        let path = dir.file("model.safetensors")
        let message = assertThrows(.duplicateTensor(name: "a", files: [path])) { try writer.write(to: path) }
        XCTAssertTrue(message.contains("'a'"))
        XCTAssertEqual(FileSystem.kind(of: path), .missing)
    }

    func testFloatTensorOwnedMemoryIsAlignedAndZeroed() {
        let t = FloatTensor(shape: [3, 7])
        XCTAssertEqual(Int(bitPattern: t.pointer) % 64, 0)
        XCTAssertEqual(t.count, 21)
        XCTAssertEqual(t.toArray(), [Float](repeating: 0, count: 21))
        let v = FloatTensor(shape: [2, 2], values: [1, 2, 3, 4])
        XCTAssertEqual(v.buffer.reduce(0, +), 10)
        let r = v.reshaped([4])
        r.pointer[0] = 9
        XCTAssertEqual(v.pointer[0], 9)
        XCTAssertEqual(r.shape, [4])
    }
}
