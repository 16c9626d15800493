import XCTest
@testable import Tensors

/// A checkpoint byte-for-byte as Python's `safetensors.numpy.save` writes it (checked against safetensors
/// 0.8.0 + ml_dtypes for bf16): `__metadata__` first, F32 before BF16 before F16, names sorted within a
/// dtype, header padded with spaces to a multiple of 8.
final class HFLayoutTests: XCTestCase {
    private var dir: TemporaryDirectory!

    override func setUpWithError() throws { dir = try TemporaryDirectory() }
    override func tearDown() { dir.remove() }

    private static let header = #"{"__metadata__":{"format":"pt"},"#
        + #""model.norm.weight":{"dtype":"F32","shape":[3],"data_offsets":[0,12]},"#
        + #""lm_head.weight":{"dtype":"BF16","shape":[2,2],"data_offsets":[12,20]},"#
        + #""model.embed_tokens.weight":{"dtype":"F16","shape":[3],"data_offsets":[20,26]}}"#
        + "    "   // 252 JSON bytes + 4 spaces = 256

    private static let normValues: [Float] = [1, -2.5, 0.125]
    private static let headValues: [Float] = [1, 3, 0.5, -0.0078125]
    private static let embedValues: [Float] = [65504, -1.5, 6e-8]

    private static func hfBytes() -> [UInt8] {
        safetensorsBytes(header: header, data: f32Bytes(normValues)
                         + u16Bytes([0x3F80, 0x4040, 0x3F00, 0xBC00])     // bf16 of headValues
                         + u16Bytes([0x7BFF, 0xBE00, 0x0001]))             // f16 of embedValues (6e-8 → smallest subnormal)
    }

    func testHandBuiltHFFileHasTheExpectedLayout() {
        let bytes = Self.hfBytes()
        XCTAssertEqual(bytes.count, 290)                                   // as Python wrote it
        XCTAssertEqual(Array(bytes[0..<8]), [0, 1, 0, 0, 0, 0, 0, 0])      // 256, little-endian
        XCTAssertEqual(Self.header.utf8.count % 8, 0)
    }

    func testHFFileLoads() throws {
        try writeBytes(Self.hfBytes(), to: dir.file("model.safetensors"))
        let store = try SafetensorsStore(directory: dir.path)
        XCTAssertEqual(store.tensorNames, ["lm_head.weight", "model.embed_tokens.weight", "model.norm.weight"])
        XCTAssertEqual(store.metadata, ["format": "pt"])
        XCTAssertEqual(try store.load("model.norm.weight", shape: [3]).toArray(), Self.normValues)
        XCTAssertEqual(try store.load("lm_head.weight", shape: [2, 2]).toArray(), Self.headValues)
        XCTAssertEqual(try store.load("model.embed_tokens.weight", shape: [3]).toArray(), [65504, -1.5, 0x1p-24])
        let head = try XCTUnwrap(store.info("lm_head.weight"))
        XCTAssertEqual(head.byteOffset, 8 + 256 + 12)
        XCTAssertEqual(head.byteCount, 8)
    }

    func testWriterReproducesTheHFBytes() throws {
        var writer = SafetensorsWriter()
        // Insertion order differs from file order on purpose.
        Self.embedValues.withUnsafeBufferPointer { writer.add("model.embed_tokens.weight", shape: [3], values: $0, as: .f16) }
        Self.headValues.withUnsafeBufferPointer { writer.add("lm_head.weight", shape: [2, 2], values: $0, as: .bf16) }
        Self.normValues.withUnsafeBufferPointer { writer.add("model.norm.weight", shape: [3], values: $0, as: .f32) }
        try writer.write(to: dir.file("model.safetensors"))
        XCTAssertEqual(try readBytes(dir.file("model.safetensors")), Self.hfBytes())
    }

    func testHeaderEscapesAsSerdeJSON() {
        // Python safetensors writes {"c/é\"x": ...} as "c/\u{e9}\"x" in raw UTF-8, '/' unescaped.
        XCTAssertEqual(JSONText.serdeString("c/é\"x\n\u{01}"), "\"c/é\\\"x\\n\\u0001\"")
        XCTAssertEqual(JSONText.pythonString("é😀/"), "\"\\u00e9\\ud83d\\ude00/\"")
    }

    func testFileOrderIsDTypeThenUTF8Name() {
        let entries = [("b", DType.f16), ("a", .f16), ("z", .f32), ("B", .f32), ("é", .f32), ("c", .bf16)].map {
            SafetensorsWriter.Entry(name: $0.0, dtype: $0.1, shape: [1], bytes: [])
        }
        XCTAssertEqual(SafetensorsWriter.fileOrder(entries).map(\.name), ["B", "z", "é", "c", "a", "b"])
    }
}
