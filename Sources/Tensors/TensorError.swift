/// What can be wrong with a checkpoint, as one clear line naming the file or tensor.
public enum TensorError: Error, CustomStringConvertible, Equatable {
    case missingDirectory(String)
    case noWeights(directory: String)
    case unreadable(file: String, reason: String)
    case malformedHeader(file: String, reason: String)
    case truncated(file: String, expectedBytes: Int, foundBytes: Int)
    case unknownDType(tensor: String, file: String, dtype: String)
    case badDataRange(tensor: String, file: String, reason: String)
    case missingTensor(name: String, searched: String)
    case wrongShape(name: String, expected: [Int], found: [Int])
    case missingShard(file: String, index: String)
    case writeFailed(file: String, reason: String)

    public var description: String {
        switch self {
        case .missingDirectory(let d): return "model folder not found: \(d)"
        case .noWeights(let d): return "no weights in \(d): expected model.safetensors or model.safetensors.index.json"
        case .unreadable(let f, let r): return "cannot read \(f): \(r)"
        case .malformedHeader(let f, let r): return "malformed safetensors header in \(f): \(r)"
        case .truncated(let f, let e, let found): return "truncated safetensors file \(f): header promises \(e) bytes, file has \(found)"
        case .unknownDType(let t, let f, let d): return "tensor '\(t)' in \(f) has unsupported dtype \(d) (expected F32, BF16 or F16)"
        case .badDataRange(let t, let f, let r): return "tensor '\(t)' in \(f): \(r)"
        case .missingTensor(let n, let s): return "missing tensor '\(n)' (searched \(s))"
        case .wrongShape(let n, let e, let found): return "tensor '\(n)' has shape \(found), expected \(e)"
        case .missingShard(let f, let i): return "shard \(f) named by \(i) does not exist"
        case .writeFailed(let f, let r): return "cannot write \(f): \(r)"
        }
    }
}
