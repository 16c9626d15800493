import Foundation

/// Where one tensor's bytes are.
public struct TensorInfo: Sendable, Equatable {
    public let name: String
    public let dtype: DType
    public let shape: [Int]
    public let file: String
    public let byteOffset: Int      // from the start of the file
    public let byteCount: Int
}

/// An HF checkpoint folder: model.safetensors, or the shards listed by model.safetensors.index.json.
/// Every file is memory-mapped once; F32 tensors are zero-copy views, BF16/F16 convert to f32.
public final class SafetensorsStore: @unchecked Sendable {
    public let directory: String
    private var files: [String: MappedFile] = [:]
    private var table: [String: TensorInfo] = [:]
    public private(set) var metadata: [String: String] = [:]

    public init(directory: String) throws {
        self.directory = directory
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDir), isDir.boolValue else {
            throw TensorError.missingDirectory(directory)
        }
        let single = directory + "/model.safetensors", index = directory + "/model.safetensors.index.json"
        if FileManager.default.fileExists(atPath: index) {
            for shard in try Self.shards(index: index) {
                let path = directory + "/" + shard
                guard FileManager.default.fileExists(atPath: path) else { throw TensorError.missingShard(file: shard, index: index) }
                try add(file: path)
            }
        } else if FileManager.default.fileExists(atPath: single) {
            try add(file: single)
        } else {
            throw TensorError.noWeights(directory: directory)
        }
    }

    public var tensorNames: [String] { table.keys.sorted() }
    public func info(_ name: String) -> TensorInfo? { table[name] }
    public func contains(_ name: String) -> Bool { table[name] != nil }

    /// The tensor as f32 with its shape checked against `expected`.
    public func load(_ name: String, shape expected: [Int]) throws -> FloatTensor {
        guard let info = table[name] else {
            throw TensorError.missingTensor(name: name, searched: directory)
        }
        guard info.shape == expected else { throw TensorError.wrongShape(name: name, expected: expected, found: info.shape) }
        let file = files[info.file]!
        let src = file.base + info.byteOffset
        switch info.dtype {
        case .f32:
            if info.byteOffset % MemoryLayout<Float>.alignment == 0 {
                return FloatTensor(shape: info.shape, viewing: src.assumingMemoryBound(to: Float.self), owner: file)
            }
            let t = FloatTensor(shape: info.shape)
            UnsafeMutableRawPointer(t.pointer).copyMemory(from: src, byteCount: info.byteCount)
            return t
        case .bf16, .f16:
            let t = FloatTensor(shape: info.shape)
            // 2-byte reads: offsets are even in any valid file (checked at parse time).
            let halves = UnsafeRawPointer(src).assumingMemoryBound(to: UInt16.self)
            if info.dtype == .bf16 {
                DTypeConversion.bf16ToF32(halves, t.pointer, count: t.count)
            } else {
                DTypeConversion.f16ToF32(halves, t.pointer, count: t.count)
            }
            return t
        }
    }

    private static func shards(index: String) throws -> [String] {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: index)) } catch {
            throw TensorError.unreadable(file: index, reason: error.localizedDescription)
        }
        guard let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let map = json["weight_map"] as? [String: String] else {
            throw TensorError.malformedHeader(file: index, reason: "expected {\"weight_map\": {tensor: file}}")
        }
        return Array(Set(map.values)).sorted()
    }

    private func add(file path: String) throws {
        let file = try MappedFile(path: path)
        let name = (path as NSString).lastPathComponent
        guard file.size >= 8 else { throw TensorError.truncated(file: name, expectedBytes: 8, foundBytes: file.size) }
        let headerLength = Int(UInt64(littleEndian: file.base.loadUnaligned(as: UInt64.self)))
        guard headerLength <= file.size - 8 else {
            throw TensorError.truncated(file: name, expectedBytes: 8 + headerLength, foundBytes: file.size)
        }
        let headerData = Data(bytes: file.base + 8, count: headerLength)
        guard let header = (try? JSONSerialization.jsonObject(with: headerData)) as? [String: Any] else {
            throw TensorError.malformedHeader(file: name, reason: "header is not a JSON object")
        }
        let dataStart = 8 + headerLength
        for (key, value) in header {
            if key == "__metadata__" {
                if metadata.isEmpty, let m = value as? [String: String] { metadata = m }
                continue
            }
            guard let entry = value as? [String: Any], let dtypeName = entry["dtype"] as? String,
                  let shape = entry["shape"] as? [Int], let offsets = entry["data_offsets"] as? [Int], offsets.count == 2 else {
                throw TensorError.malformedHeader(file: name, reason: "entry '\(key)' needs dtype, shape and data_offsets")
            }
            guard let dtype = DType(rawValue: dtypeName) else { throw TensorError.unknownDType(tensor: key, file: name, dtype: dtypeName) }
            let begin = offsets[0], end = offsets[1]
            guard shape.allSatisfy({ $0 >= 0 }), begin >= 0, end >= begin else {
                throw TensorError.badDataRange(tensor: key, file: name, reason: "invalid shape \(shape) or offsets \(offsets)")
            }
            let expectedBytes = shape.reduce(1, *) * dtype.byteSize
            guard end - begin == expectedBytes else {
                throw TensorError.badDataRange(tensor: key, file: name,
                                               reason: "data_offsets span \(end - begin) bytes, shape \(shape) of \(dtypeName) needs \(expectedBytes)")
            }
            guard dataStart + end <= file.size else {
                throw TensorError.truncated(file: name, expectedBytes: dataStart + end, foundBytes: file.size)
            }
            guard (dataStart + begin) % dtype.byteSize == 0 || dtype == .f32 else {
                throw TensorError.badDataRange(tensor: key, file: name, reason: "data not aligned to \(dtype.byteSize) bytes")
            }
            table[key] = TensorInfo(name: key, dtype: dtype, shape: shape, file: name, byteOffset: dataStart + begin, byteCount: expectedBytes)
        }
        files[name] = file
    }
}
