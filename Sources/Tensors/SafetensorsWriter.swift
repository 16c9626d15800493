import Foundation

/// Writes safetensors files as HF's library does: 8-byte little-endian header length, a JSON
/// header padded with spaces to a multiple of 8, then the tensors' bytes back to back.
public struct SafetensorsWriter {
    private struct Entry { let name: String; let dtype: DType; let shape: [Int]; let bytes: [UInt8] }
    private var entries: [Entry] = []

    public init() {}

    /// Converts f32 values to `dtype` (bf16: round to nearest even) and queues the tensor.
    public mutating func add(_ name: String, shape: [Int], values: UnsafeBufferPointer<Float>, as dtype: DType) {
        precondition(values.count == shape.reduce(1, *), "SafetensorsWriter: \(values.count) values for \(name) \(shape)")
        var bytes = [UInt8](repeating: 0, count: values.count * dtype.byteSize)
        bytes.withUnsafeMutableBytes { raw in
            switch dtype {
            case .f32: raw.copyMemory(from: UnsafeRawBufferPointer(values))
            case .bf16: DTypeConversion.f32ToBF16(values.baseAddress!, raw.baseAddress!.assumingMemoryBound(to: UInt16.self), count: values.count)
            case .f16: DTypeConversion.f32ToF16(values.baseAddress!, raw.baseAddress!.assumingMemoryBound(to: UInt16.self), count: values.count)
            }
        }
        entries.append(Entry(name: name, dtype: dtype, shape: shape, bytes: bytes))
    }

    public func write(to path: String, metadata: [String: String] = ["format": "pt"]) throws {
        try Self.writeFile(entries, to: path, metadata: metadata)
    }

    /// Shards of at most `maxShardBytes` (a larger tensor gets its own shard), named
    /// model-0000i-of-0000n.safetensors, plus model.safetensors.index.json.
    public func writeSharded(directory: String, maxShardBytes: Int, metadata: [String: String] = ["format": "pt"]) throws {
        var shards: [[Entry]] = [[]]
        var size = 0
        for e in entries {
            if size > 0 && size + e.bytes.count > maxShardBytes { shards.append([]); size = 0 }
            shards[shards.count - 1].append(e)
            size += e.bytes.count
        }
        var weightMap: [String: String] = [:]
        for (i, shard) in shards.enumerated() {
            let name = String(format: "model-%05d-of-%05d.safetensors", i + 1, shards.count)
            try Self.writeFile(shard, to: directory + "/" + name, metadata: metadata)
            for e in shard { weightMap[e.name] = name }
        }
        let total = entries.reduce(0) { $0 + $1.bytes.count }
        let index: [String: Any] = ["metadata": ["total_size": total], "weight_map": weightMap]
        let data = try JSONSerialization.data(withJSONObject: index, options: [.prettyPrinted, .sortedKeys])
        try Self.write(data, to: directory + "/model.safetensors.index.json")
    }

    private static func writeFile(_ entries: [Entry], to path: String, metadata: [String: String]) throws {
        var header: [String: Any] = ["__metadata__": metadata]
        var offset = 0
        for e in entries {
            header[e.name] = ["dtype": e.dtype.rawValue, "shape": e.shape, "data_offsets": [offset, offset + e.bytes.count]] as [String: Any]
            offset += e.bytes.count
        }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while json.count % 8 != 0 { json.append(0x20) }
        var out = Data(capacity: 8 + json.count + offset)
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(json)
        for e in entries { out.append(contentsOf: e.bytes) }
        try write(out, to: path)
    }

    private static func write(_ data: Data, to path: String) throws {
        do { try data.write(to: URL(fileURLWithPath: path)) } catch {
            throw TensorError.writeFailed(file: path, reason: error.localizedDescription)
        }
    }
}
