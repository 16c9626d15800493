/// Which files make up a checkpoint path: a folder's model.safetensors (preferred, as in transformers), else
/// the shards of its model.safetensors.index.json (all must exist); or one .safetensors file given directly.
struct CheckpointLayout {
    let folder: String
    let files: [String]                  // file names inside `folder`
    let weightMap: [String: String]?     // from the index, when sharded

    init(path: String) throws {
        switch FileSystem.kind(of: path) {
        case .missing, .other:
            throw path.hasSuffix(".safetensors") ? TensorError.missingFile(path) : TensorError.missingDirectory(path)
        case .file:
            folder = FileSystem.parent(path)
            files = [FileSystem.lastComponent(path)]
            weightMap = nil
        case .directory:
            folder = path
            let indexPath = FileSystem.join(path, SafetensorsIndex.fileName)
            if FileSystem.kind(of: FileSystem.join(path, "model.safetensors")) == .file {
                files = ["model.safetensors"]
                weightMap = nil
            } else if FileSystem.kind(of: indexPath) == .file {
                let index = try SafetensorsIndex.read(path: indexPath)
                for shard in index.shards where FileSystem.kind(of: FileSystem.join(path, shard)) != .file {
                    let tensor = index.weightMap.filter { $0.value == shard }.keys.min() ?? "?"
                    throw TensorError.missingShard(file: shard, index: indexPath, tensor: tensor)
                }
                files = index.shards
                weightMap = index.weightMap
            } else {
                throw TensorError.noWeights(directory: path)
            }
        }
    }
}
