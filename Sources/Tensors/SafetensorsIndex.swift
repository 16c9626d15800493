import Foundation

/// model.safetensors.index.json: `{"metadata": {"total_size": N, ...}, "weight_map": {tensor: shard file}}`.
struct SafetensorsIndex {
    static let fileName = "model.safetensors.index.json"

    let weightMap: [String: String]
    let totalSize: Int?

    /// Shard file names in sorted order (model-00001-of-0000n first).
    var shards: [String] { Array(Set(weightMap.values)).sorted() }

    static func read(path: String) throws -> SafetensorsIndex {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw TensorError.unreadable(file: path, reason: "\(error.localizedDescription)")
        }
        return try parse(data, path: path)
    }

    static func parse(_ data: Data, path: String) throws -> SafetensorsIndex {
        guard let object = try? JSONSerialization.jsonObject(with: data) else {
            throw TensorError.malformedIndex(file: path, reason: "not valid JSON")
        }
        guard let top = object as? [String: Any], let map = top["weight_map"] as? [String: String] else {
            throw TensorError.malformedIndex(file: path, reason: "expected {\"weight_map\": {tensor: file}}")
        }
        if let bad = map.values.first(where: { $0.isEmpty || $0.contains("/") || $0 == ".." }) {
            throw TensorError.malformedIndex(file: path, reason: "weight_map names shard '\(bad)', expected a file name in the same folder")
        }
        let totalSize = (top["metadata"] as? [String: Any])?["total_size"] as? Int
        return SafetensorsIndex(weightMap: map, totalSize: totalSize)
    }

    /// The index as transformers writes it: `json.dumps(index, indent=2, sort_keys=True) + "\n"`.
    static func encode(weightMap: [String: String], totalSize: Int) -> [UInt8] {
        var out = "{\n  \"metadata\": {\n    \"total_size\": \(totalSize)\n  },\n  \"weight_map\": {"
        let names = weightMap.keys.sorted { $0.unicodeScalars.lexicographicallyPrecedes($1.unicodeScalars) }
        for (i, name) in names.enumerated() {
            out += (i == 0 ? "\n" : ",\n") + "    " + JSONText.pythonString(name) + ": " + JSONText.pythonString(weightMap[name]!)
        }
        out += names.isEmpty ? "}\n}\n" : "\n  }\n}\n"
        return Array(out.utf8)
    }
}
