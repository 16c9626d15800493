import XCTest
@testable import Tensors

/// Every TensorError a reader can meet, each from a deliberately broken checkpoint, with its message
/// checked to name the file or tensor.
final class SafetensorsErrorTests: XCTestCase {
    private var dir: TemporaryDirectory!
    private var modelPath: String { dir.file("model.safetensors") }

    override func setUpWithError() throws { dir = try TemporaryDirectory() }
    override func tearDown() { dir.remove() }

    /// A valid two-tensor file: "a" F32 [2] at [0, 8), "b" F32 [3] at [8, 20).
    private func validFile() -> [UInt8] {
        safetensorsBytes(header: #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[3],"data_offsets":[8,20]}}"#,
                         data: f32Bytes([1, 2, 3, 4, 5]))
    }

    private func openModel() throws -> SafetensorsStore { try SafetensorsStore(directory: dir.path) }

    func testMissingFolderAndFile() {
        let folder = dir.file("no-such-folder")
        XCTAssertTrue(assertThrows(.missingDirectory(folder)) { try SafetensorsStore(directory: folder) }.contains(folder))
        let file = dir.file("absent.safetensors")
        XCTAssertTrue(assertThrows(.missingFile(file)) { try SafetensorsStore(directory: file) }.contains(file))
    }

    func testFolderWithoutWeights() throws {
        try writeBytes(Array("{}".utf8), to: dir.file("config.json"))
        let message = assertThrows(.noWeights(directory: dir.path)) { try openModel() }
        XCTAssertTrue(message.contains("model.safetensors.index.json") && message.contains(dir.path), message)
    }

    func testFileShorterThanTheLengthField() throws {
        try writeBytes([1, 2, 3], to: modelPath)
        XCTAssertTrue(assertThrows(.fileTooSmall(file: modelPath, size: 3)) { try openModel() }.contains(modelPath))
    }

    func testHeaderLengthPastEOF() throws {
        let bytes = safetensorsBytes(header: #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#,
                                     data: f32Bytes([1]), declaredLength: 1_000_000)
        try writeBytes(bytes, to: modelPath)
        let message = assertThrows(.headerPastEOF(file: modelPath, headerLength: 1_000_000, fileSize: bytes.count)) { try openModel() }
        XCTAssertTrue(message.contains("1000000") && message.contains(modelPath), message)
    }

    func testHeaderThatIsNotJSON() throws {
        try writeBytes(safetensorsBytes(header: #"{"a":{"dtype":"F32",  "#, data: []), to: modelPath)
        guard case .malformedHeader(let file, _)? = catchError({ try openModel() }) else { return XCTFail("expected malformedHeader") }
        XCTAssertEqual(file, modelPath)
    }

    func testHeaderEntryWithoutOffsetsOrWithNegativeShape() throws {
        try writeBytes(safetensorsBytes(header: #"{"a":{"dtype":"F32","shape":[1]}}"#, data: f32Bytes([1])), to: modelPath)
        guard case .malformedHeader(_, let reason)? = catchError({ try openModel() }) else { return XCTFail("expected malformedHeader") }
        XCTAssertTrue(reason.contains("'a'") && reason.contains("data_offsets"), reason)

        try writeBytes(safetensorsBytes(header: #"{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#, data: f32Bytes([1])), to: modelPath)
        guard case .malformedHeader(_, let reason2)? = catchError({ try openModel() }) else { return XCTFail("expected malformedHeader") }
        XCTAssertTrue(reason2.contains("shape"), reason2)
    }

    func testTruncatedData() throws {
        try writeBytes(Array(validFile().dropLast(4)), to: modelPath)
        let message = assertThrows(.dataPastEOF(tensor: "b", file: modelPath, rangeEnd: 20, dataBytes: 16)) { try openModel() }
        XCTAssertTrue(message.contains("'b'") && message.contains(modelPath) && message.contains("truncated"), message)
    }

    func testRangeTooShortForShape() throws {
        try writeBytes(safetensorsBytes(header: #"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, data: f32Bytes([1, 2, 3])), to: modelPath)
        let message = assertThrows(.rangeSizeMismatch(tensor: "a", file: modelPath, shape: [3], dtype: "F32", expectedBytes: 12, foundBytes: 8)) {
            try openModel()
        }
        XCTAssertTrue(message.contains("'a'") && message.contains("12") && message.contains("8"), message)
    }

    func testOverlappingRanges() throws {
        try writeBytes(safetensorsBytes(header: #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#,
                                        data: f32Bytes([1, 2, 3])), to: modelPath)
        let message = assertThrows(.overlappingRanges(file: modelPath, first: "a", second: "b")) { try openModel() }
        XCTAssertTrue(message.contains("'a'") && message.contains("'b'"), message)
    }

    func testUnknownDTypeIsReportedWhenLoaded() throws {
        try writeBytes(safetensorsBytes(header: #"{"q":{"dtype":"I8","shape":[4],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#,
                                        data: [1, 2, 3, 4] + f32Bytes([5])), to: modelPath)
        let store = try openModel()
        XCTAssertEqual(store.tensorNames, ["a"])
        XCTAssertEqual(store.unsupportedTensors, ["q": "I8"])
        let message = assertThrows(.unknownDType(tensor: "q", file: modelPath, dtype: "I8")) { try store.load("q", shape: [4]) }
        XCTAssertTrue(message.contains("'q'") && message.contains("I8") && message.contains(modelPath), message)
        // The loadable neighbour is unaffected.
        XCTAssertEqual(try store.load("a", shape: [1]).toArray(), [5])
    }

    func testMissingTensorNamesTheFilesSearched() throws {
        try writeBytes(validFile(), to: modelPath)
        let message = assertThrows(.missingTensor(name: "model.norm.weight", searched: [modelPath])) {
            try openModel().load("model.norm.weight", shape: [2])
        }
        XCTAssertTrue(message.contains("'model.norm.weight'") && message.contains(modelPath), message)
    }

    func testWrongShapeNamesExpectedAndFound() throws {
        try writeBytes(validFile(), to: modelPath)
        let message = assertThrows(.wrongShape(name: "b", file: modelPath, expected: [1, 3], found: [3])) {
            try openModel().load("b", shape: [1, 3])
        }
        XCTAssertTrue(message.contains("'b'") && message.contains("[1, 3]") && message.contains("[3]"), message)
    }

    func testIndexNamingAMissingShard() throws {
        try writeBytes(validFile(), to: dir.file("model-00001-of-00002.safetensors"))
        try writeBytes(Array(#"{"metadata":{"total_size":20},"weight_map":{"a":"model-00001-of-00002.safetensors","c":"model-00002-of-00002.safetensors"}}"#.utf8),
                       to: dir.file("model.safetensors.index.json"))
        let index = dir.file("model.safetensors.index.json")
        let message = assertThrows(.missingShard(file: "model-00002-of-00002.safetensors", index: index, tensor: "c")) { try openModel() }
        XCTAssertTrue(message.contains("model-00002-of-00002.safetensors") && message.contains("'c'"), message)
    }

    func testIndexListingATensorItsShardLacks() throws {
        let shard = dir.file("model-00001-of-00001.safetensors")
        try writeBytes(validFile(), to: shard)
        try writeBytes(Array(#"{"weight_map":{"a":"model-00001-of-00001.safetensors","zz":"model-00001-of-00001.safetensors"}}"#.utf8),
                       to: dir.file("model.safetensors.index.json"))
        assertThrows(.missingTensor(name: "zz", searched: [shard])) { try openModel() }
    }

    func testMalformedIndex() throws {
        try writeBytes(Array(#"{"weight_map": ["#.utf8), to: dir.file("model.safetensors.index.json"))
        let index = dir.file("model.safetensors.index.json")
        assertThrows(.malformedIndex(file: index, reason: "not valid JSON")) { try openModel() }
    }

    func testTensorInTwoShards() throws {
        try writeBytes(validFile(), to: dir.file("model-00001-of-00002.safetensors"))
        try writeBytes(validFile(), to: dir.file("model-00002-of-00002.safetensors"))
        try writeBytes(Array(#"{"weight_map":{"a":"model-00001-of-00002.safetensors","b":"model-00002-of-00002.safetensors"}}"#.utf8),
                       to: dir.file("model.safetensors.index.json"))
        assertThrows(.duplicateTensor(name: "a", files: ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"])) {
            try openModel()
        }
    }

    private func catchError(_ body: () throws -> Any) -> TensorError? {
        do { _ = try body(); return nil } catch { return error as? TensorError }
    }
}
