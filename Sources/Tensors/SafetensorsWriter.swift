import Basics
import Foundation

/// Writes safetensors files byte-compatible with HF's library: 8-byte little-endian header length, compact
/// JSON header (`__metadata__` first, then tensors by dtype F32, BF16, F16, F8_E4M3 and by name, each
/// `{"dtype","shape","data_offsets"}`) padded with spaces to a multiple of 8, then the data back to back.
public struct SafetensorsWriter {
    struct Entry {
        let name: String
        let dtype: DType
        let shape: [Int]
        let bytes: [UInt8]      // little-endian elements of `dtype`
    }
    private(set) var entries: [Entry] = []

    public init() {}

    public var tensorCount: Int { entries.count }

    /// Converts f32 `values` (row-major, count = product of `shape`) to `dtype` and queues the tensor.
    /// bf16 rounds to nearest even, f16 is IEEE round to nearest even.
    public mutating func add(_ name: String, shape: [Int], values: UnsafeBufferPointer<Float>, as dtype: DType) {
        let count = FloatTensor.elementCount(shape)
        precondition(values.count == count, "SafetensorsWriter: \(values.count) values for '\(name)' of shape \(shape)")
        let byteCount = count * dtype.byteSize
        // Every byte is written by the copy or conversion: no zero fill first.
        let bytes = [UInt8](unsafeUninitializedCapacity: byteCount) { raw, initialized in
            if count > 0 {
                let src = values.baseAddress!, dst = UnsafeMutableRawPointer(raw.baseAddress!)
                switch dtype {
                case .f32: dst.copyMemory(from: src, byteCount: byteCount)
                case .bf16: BFloat16.encode(UnsafeBufferPointer(start: src, count: count), into: dst)
                case .f16: DTypeConversion.f32ToF16(src, dst.assumingMemoryBound(to: UInt16.self), count: count)
                case .f8E4M3:
                    let out = dst.assumingMemoryBound(to: UInt8.self)
                    for i in 0..<count { out[i] = DTypeConversion.f32ToE4M3(src[i]) }
                }
            }
            initialized = byteCount
        }
        entries.append(Entry(name: name, dtype: dtype, shape: shape, bytes: bytes))
    }

    /// Queues already-encoded little-endian elements of `dtype` (e.g. FP8 blocks quantized by the caller).
    public mutating func add(_ name: String, shape: [Int], bytes: [UInt8], dtype: DType) {
        precondition(bytes.count == FloatTensor.elementCount(shape) * dtype.byteSize,
                     "SafetensorsWriter: \(bytes.count) bytes for '\(name)' of shape \(shape) in \(dtype.rawValue)")
        entries.append(Entry(name: name, dtype: dtype, shape: shape, bytes: bytes))
    }

    /// One file holding every tensor.
    public func write(to path: String, metadata: [String: String] = ["format": "pt"]) throws {
        try checkUniqueNames(path: path)
        try Self.writeFile(entries, to: path, metadata: metadata)
    }

    /// Shards of at most `maxShardBytes` of tensor data each, filled in insertion order (a larger tensor gets
    /// a shard of its own), named model-0000i-of-0000n.safetensors, plus model.safetensors.index.json as
    /// transformers writes it. Always the index form, even for one shard. Creates `directory` if needed and,
    /// as transformers' save_pretrained, removes weight files of an earlier save there (a stale
    /// model.safetensors would shadow the index).
    public func writeSharded(directory: String, maxShardBytes: Int, metadata: [String: String] = ["format": "pt"]) throws {
        try checkUniqueNames(path: directory)
        try FileSystem.makeDirectories(directory)
        let shards = ShardPlanner.split(entries.map { $0.bytes.count }, maxBytes: maxShardBytes)
        let names = (0..<shards.count).map { ShardPlanner.fileName(index: $0, of: shards.count) }
        try removeStaleWeights(in: directory, keeping: Set(names))
        var weightMap: [String: String] = [:]
        for (shard, members) in shards.enumerated() {
            let shardEntries = members.map { entries[$0] }
            try Self.writeFile(shardEntries, to: FileSystem.join(directory, names[shard]), metadata: metadata)
            for e in shardEntries { weightMap[e.name] = names[shard] }
        }
        let totalSize = entries.reduce(0) { $0 + $1.bytes.count }
        let index = SafetensorsIndex.encode(weightMap: weightMap, totalSize: totalSize)
        try FileSystem.writeAtomically(FileSystem.join(directory, SafetensorsIndex.fileName)) { try $0.write(index) }
    }

    /// The exact header bytes (JSON plus space padding) HF would write for `entries` in file order.
    static func header(_ entries: [Entry], metadata: [String: String]) -> [UInt8] {
        var json = "{\"__metadata__\":{"
        let keys = metadata.keys.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
        json += keys.map { JSONText.serdeString($0) + ":" + JSONText.serdeString(metadata[$0]!) }.joined(separator: ",")
        json += "}"
        var offset = 0
        for e in entries {
            let shape = e.shape.map(String.init).joined(separator: ",")
            json += ",\(JSONText.serdeString(e.name)):{\"dtype\":\"\(e.dtype.rawValue)\",\"shape\":[\(shape)],"
                + "\"data_offsets\":[\(offset),\(offset + e.bytes.count)]}"
            offset += e.bytes.count
        }
        json += "}"
        var bytes = Array(json.utf8)
        bytes.append(contentsOf: repeatElement(UInt8(ascii: " "), count: (8 - bytes.count % 8) % 8))
        return bytes
    }

    /// HF's file order: dtype rank descending (F32, BF16, F16), then name by UTF-8 bytes.
    static func fileOrder(_ entries: [Entry]) -> [Entry] {
        entries.sorted { a, b in
            if a.dtype.serializationRank != b.dtype.serializationRank {
                return a.dtype.serializationRank > b.dtype.serializationRank
            }
            return Array(a.name.utf8).lexicographicallyPrecedes(Array(b.name.utf8))
        }
    }

    private static func writeFile(_ unordered: [Entry], to path: String, metadata: [String: String]) throws {
        let ordered = fileOrder(unordered)
        let header = header(ordered, metadata: metadata)
        try FileSystem.writeAtomically(path) { out in
            var length = UInt64(header.count).littleEndian
            try withUnsafeBytes(of: &length) { try out.write($0) }
            try out.write(header)
            for e in ordered { try out.write(e.bytes) }
        }
    }

    private func checkUniqueNames(path: String) throws {
        var seen = Set<String>()
        for e in entries where !seen.insert(e.name).inserted {
            throw TensorError.duplicateTensor(name: e.name, files: [path])
        }
    }

    private func removeStaleWeights(in directory: String, keeping: Set<String>) throws {
        let existing = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        for name in existing where !keeping.contains(name) && ShardPlanner.isWeightFileName(name) {
            guard unlink(FileSystem.join(directory, name)) == 0 else {
                throw TensorError.writeFailed(file: FileSystem.join(directory, name), reason: "cannot remove stale weights: \(String(cString: strerror(errno)))")
            }
        }
    }
}

/// How tensors are grouped into shards and how shard files are named (transformers' conventions).
enum ShardPlanner {
    /// Greedy in order: a shard closes when the next tensor would push it past `maxBytes`.
    static func split(_ sizes: [Int], maxBytes: Int) -> [[Int]] {
        var shards: [[Int]] = [[]]
        var filled = 0
        for (i, size) in sizes.enumerated() {
            if !shards[shards.count - 1].isEmpty && filled + size > maxBytes {
                shards.append([])
                filled = 0
            }
            shards[shards.count - 1].append(i)
            filled += size
        }
        return shards
    }

    static func fileName(index: Int, of count: Int) -> String {
        "model-\(fiveDigits(index + 1))-of-\(fiveDigits(count)).safetensors"
    }

    /// model.safetensors or model-NNNNN-of-NNNNN.safetensors.
    static func isWeightFileName(_ name: String) -> Bool {
        if name == "model.safetensors" { return true }
        let bytes = Array(name.utf8)
        guard bytes.count == "model-00001-of-00001.safetensors".utf8.count, name.hasPrefix("model-"),
              name.hasSuffix(".safetensors") else { return false }
        let digits = { (r: Range<Int>) in bytes[r].allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") } }
        return digits(6..<11) && String(decoding: bytes[11..<15], as: UTF8.self) == "-of-" && digits(15..<20)
    }

    private static func fiveDigits(_ n: Int) -> String {
        let s = String(n)
        return s.count >= 5 ? s : String(repeating: "0", count: 5 - s.count) + s
    }
}
