/// What can be wrong with a checkpoint (or a write), as one line naming the file or tensor, what was
/// expected and what was found.
public enum TensorError: Error, CustomStringConvertible, Equatable {
    case missingDirectory(String)
    case missingFile(String)
    case noWeights(directory: String)
    case unreadable(file: String, reason: String)
    case fileTooSmall(file: String, size: Int)
    case headerPastEOF(file: String, headerLength: UInt64, fileSize: Int)
    case malformedHeader(file: String, reason: String)
    case malformedIndex(file: String, reason: String)
    case unknownDType(tensor: String, file: String, dtype: String)
    /// The data range runs past the end of the file: truncated download or copy.
    case dataPastEOF(tensor: String, file: String, rangeEnd: Int, dataBytes: Int)
    /// The data range's length does not fit shape × element size.
    case rangeSizeMismatch(tensor: String, file: String, shape: [Int], dtype: String, expectedBytes: Int, foundBytes: Int)
    case overlappingRanges(file: String, first: String, second: String)
    case missingTensor(name: String, searched: [String])
    case wrongShape(name: String, file: String, expected: [Int], found: [Int])
    case missingShard(file: String, index: String, tensor: String)
    case duplicateTensor(name: String, files: [String])
    case writeFailed(file: String, reason: String)

    public var description: String {
        switch self {
        case .missingDirectory(let d):
            return "checkpoint folder not found: \(d)"
        case .missingFile(let f):
            return "checkpoint file not found: \(f)"
        case .noWeights(let d):
            return "no weights in \(d): expected model.safetensors or model.safetensors.index.json, found neither"
        case .unreadable(let f, let r):
            return "cannot read \(f): \(r)"
        case .fileTooSmall(let f, let size):
            return "safetensors file \(f) is \(size) bytes, expected at least the 8-byte header length (truncated?)"
        case .headerPastEOF(let f, let n, let size):
            return "safetensors file \(f): header length \(n) runs past the end of the file (\(size) bytes, at most \(max(size - 8, 0)) left for the header; truncated?)"
        case .malformedHeader(let f, let r):
            return "malformed safetensors header in \(f): \(r)"
        case .malformedIndex(let f, let r):
            return "malformed index \(f): \(r)"
        case .unknownDType(let t, let f, let d):
            return "tensor '\(t)' in \(f) has dtype \(d), expected F32, BF16 or F16"
        case .dataPastEOF(let t, let f, let end, let bytes):
            return "tensor '\(t)' in \(f): data ends at byte \(end) of the data section, but the file holds only \(bytes) data bytes (truncated?)"
        case .rangeSizeMismatch(let t, let f, let shape, let d, let expected, let found):
            return "tensor '\(t)' in \(f): shape \(shape) of \(d) needs \(expected) bytes, data_offsets span \(found)"
        case .overlappingRanges(let f, let a, let b):
            return "safetensors file \(f): data of tensors '\(a)' and '\(b)' overlap, expected disjoint ranges"
        case .missingTensor(let n, let searched):
            let shown = searched.count <= 4 ? searched.joined(separator: ", ")
                : searched.prefix(3).joined(separator: ", ") + ", … (\(searched.count) files)"
            return "tensor '\(n)' not found; searched \(shown.isEmpty ? "no files" : shown)"
        case .wrongShape(let n, let f, let expected, let found):
            return "tensor '\(n)' in \(f) has shape \(found), expected \(expected)"
        case .missingShard(let f, let index, let t):
            return "shard \(f) named by \(index) (for tensor '\(t)') does not exist"
        case .duplicateTensor(let n, let files):
            return "tensor '\(n)' appears more than once, in \(files.joined(separator: ", ")); expected exactly once"
        case .writeFailed(let f, let r):
            return "cannot write \(f): \(r)"
        }
    }
}
