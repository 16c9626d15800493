import Basics

/// Where one tensor's bytes are.
public struct TensorInfo: Sendable, Equatable {
    public let name: String
    public let dtype: DType
    public let shape: [Int]
    /// File name inside the checkpoint folder (as in the index's weight_map).
    public let file: String
    /// From the start of the file (not of the data section).
    public let byteOffset: Int
    public let byteCount: Int
}

/// One tensor's stored bytes inside a mapped file (`owner` keeps the mapping alive).
public struct StoredTensor: @unchecked Sendable {
    public let info: TensorInfo
    public let base: UnsafeRawPointer
    public let owner: AnyObject
    public var dtype: DType { info.dtype }
    public var shape: [Int] { info.shape }
}

/// An HF checkpoint folder: model.safetensors, or the shards listed by model.safetensors.index.json
/// (a path to a single .safetensors file works too). Each file is memory-mapped once; F32 tensors load as
/// zero-copy views when 4-byte aligned, BF16/F16 convert to f32. Under `.hugePages` residency the
/// tensors handed out as they are stored (`stored`, f32 views) are read into huge-page copies
/// instead (WeightResidency). Immutable after init, apart from which tensors were copied.
public final class SafetensorsStore: @unchecked Sendable {
    public let directory: String
    /// File names (sorted) that were opened.
    public let files: [String]
    /// `__metadata__` of the first file.
    public let metadata: [String: String]
    /// Tensors present with a dtype we cannot load: name → dtype (e.g. "I8"); `load` names them clearly.
    public let unsupportedTensors: [String: String]
    /// Names of the loadable tensors, sorted.
    public let tensorNames: [String]
    public let residency: WeightResidency

    private struct Located { let info: TensorInfo; let file: MappedFile }
    private let table: [String: Located]
    private let mappedFiles: [MappedFile]
    private let unsupportedFiles: [String: String]     // name → file name, for errors

    public init(directory path: String, residency: WeightResidency = .mmap) throws {
        let layout = try CheckpointLayout(path: path)
        let folder = layout.folder, fileNames = layout.files
        var table: [String: Located] = [:]
        var unsupported: [String: String] = [:]
        var unsupportedFile: [String: String] = [:]
        var firstMetadata: [String: String]? = nil
        var mappedFiles: [MappedFile] = []
        for name in fileNames {
            let filePath = FileSystem.join(folder, name)
            let mapped = try MappedFile(path: filePath, residency: residency)
            mappedFiles.append(mapped)
            let header = try SafetensorsHeader.parse(file: UnsafeRawBufferPointer(start: mapped.base, count: mapped.size), path: filePath)
            if firstMetadata == nil { firstMetadata = header.metadata }
            for entry in header.entries {
                if let other = table[entry.name]?.info.file ?? unsupportedFile[entry.name] {
                    throw TensorError.duplicateTensor(name: entry.name, files: [other, name])
                }
                guard let dtype = entry.dtype else {
                    unsupported[entry.name] = entry.dtypeName
                    unsupportedFile[entry.name] = name
                    continue
                }
                let info = TensorInfo(name: entry.name, dtype: dtype, shape: entry.shape, file: name,
                                      byteOffset: header.dataStart + entry.begin, byteCount: entry.end - entry.begin)
                table[entry.name] = Located(info: info, file: mapped)
            }
        }
        // Every weight_map entry must be in the shard it names.
        if let weightMap = layout.weightMap {
            for (tensor, shard) in weightMap.sorted(by: { $0.key < $1.key }) {
                let foundIn = table[tensor]?.info.file ?? unsupportedFile[tensor]
                guard foundIn == shard else {
                    throw TensorError.missingTensor(name: tensor, searched: [FileSystem.join(folder, shard)])
                }
            }
        }
        directory = folder
        files = fileNames
        metadata = firstMetadata ?? [:]
        unsupportedTensors = unsupported
        unsupportedFiles = unsupportedFile
        tensorNames = table.keys.sorted()
        self.residency = residency
        self.mappedFiles = mappedFiles
        self.table = table
    }

    public func info(_ name: String) -> TensorInfo? { table[name]?.info }

    /// The stored bytes of a tensor, whatever its dtype (for content hashes): its huge-page copy when
    /// it has one, else the mapping; valid while the store lives.
    public func rawBytes(_ name: String) -> UnsafeRawBufferPointer? {
        guard let located = table[name] else { return nil }
        let info = located.info
        let start = located.file.hugePages?.existing(offset: info.byteOffset, count: info.byteCount) ?? located.file.base + info.byteOffset
        return UnsafeRawBufferPointer(start: start, count: info.byteCount)
    }
    public func contains(_ name: String) -> Bool { table[name] != nil }

    /// The tensor as f32, its shape checked against `expected`. F32 data is a zero-copy view of the mapping
    /// when 4-byte aligned (one memcpy otherwise); BF16/F16 are converted into a new aligned tensor.
    /// `mappedView`: an f32 view stays a view of the mapping under huge-page residency too (see `stored`).
    public func load(_ name: String, shape expected: [Int], mappedView: Bool = false) throws -> FloatTensor {
        let located = try locate(name)
        guard located.info.shape == expected else {
            throw TensorError.wrongShape(name: name, file: FileSystem.join(directory, located.info.file), expected: expected, found: located.info.shape)
        }
        return try convert(located, mappedView: mappedView)
    }

    /// The tensor as f32 in its stored shape.
    public func load(_ name: String) throws -> FloatTensor { try convert(try locate(name)) }

    /// The tensor in its stored dtype, shape checked: a pointer into the read-only use of the
    /// mapping (no copy, pages shared with every process mapping the file) or, under huge-page
    /// residency, into its copy — unless `mappedView`: for a table read a row at a time (a token
    /// embedding) or bytes about to be converted, where a copy would only cost memory. Valid while
    /// `owner` (the mapped file) lives.
    public func stored(_ name: String, shape expected: [Int], mappedView: Bool = false) throws -> StoredTensor {
        let located = try locate(name)
        guard located.info.shape == expected else {
            throw TensorError.wrongShape(name: name, file: FileSystem.join(directory, located.info.file), expected: expected, found: located.info.shape)
        }
        located.file.prefetch(offset: located.info.byteOffset, count: located.info.byteCount)
        let bytes = mappedView ? located.file.base + located.info.byteOffset
            : try located.file.held(offset: located.info.byteOffset, count: located.info.byteCount)
        return StoredTensor(info: located.info, base: UnsafeRawPointer(bytes), owner: located.file)
    }

    /// Drops the mapped pages (and any huge-page copy) of a tensor that was converted into a copy
    /// (its bytes are not read again), so the process does not hold both.
    public func dropResidentPages(_ name: String) {
        guard let located = table[name] else { return }
        located.file.dropPages(offset: located.info.byteOffset, count: located.info.byteCount)
    }

    /// Under huge-page residency, once the model holds its copies: unmaps the resident pages of
    /// every file mapping (what conversions and weight digests read through it; views of it, as
    /// `mappedView` gives, fault their pages back on use). No-op for `.mmap`.
    public func releaseMappedPages() {
        for file in mappedFiles { file.dropMappingIfCopied() }
    }

    private func locate(_ name: String) throws -> Located {
        if let located = table[name] { return located }
        if let dtype = unsupportedTensors[name], let file = unsupportedFiles[name] {
            throw TensorError.unknownDType(tensor: name, file: FileSystem.join(directory, file), dtype: dtype)
        }
        throw TensorError.missingTensor(name: name, searched: files.map { FileSystem.join(directory, $0) })
    }

    private func convert(_ located: Located, mappedView: Bool = false) throws -> FloatTensor {
        let info = located.info, file = located.file
        let source = UnsafeRawPointer(file.base + info.byteOffset)
        let count = info.byteCount / info.dtype.byteSize
        if count == 0 { return FloatTensor(shape: info.shape) }
        switch info.dtype {
        case .f32:
            if Int(bitPattern: source) % MemoryLayout<Float>.alignment == 0 {
                file.prefetch(offset: info.byteOffset, count: info.byteCount)
                let bytes = mappedView ? file.base + info.byteOffset : try file.held(offset: info.byteOffset, count: info.byteCount)
                return FloatTensor(shape: info.shape, viewing: bytes.assumingMemoryBound(to: Float.self), owner: file)
            }
            let tensor = FloatTensor(weightShape: info.shape)
            UnsafeMutableRawPointer(tensor.pointer).copyMemory(from: source, byteCount: info.byteCount)
            return tensor
        case .f8E4M3:   // the stored values; block scales are the model loader's business
            let tensor = FloatTensor(weightShape: info.shape)
            DTypeConversion.e4m3ToF32(source.assumingMemoryBound(to: UInt8.self), tensor.pointer, count: count)
            return tensor
        case .bf16, .f16:
            let tensor = FloatTensor(weightShape: info.shape)
            let convert: (UnsafePointer<UInt16>, UnsafeMutablePointer<Float>, Int) -> Void = info.dtype == .bf16
                ? { BFloat16.decode($0, count: $2, into: $1) } : DTypeConversion.f16ToF32
            if Int(bitPattern: source) % MemoryLayout<UInt16>.alignment == 0 {
                convert(source.assumingMemoryBound(to: UInt16.self), tensor.pointer, count)
            } else {
                // Odd offset (only after a 1-byte dtype): realign through a temporary copy.
                let aligned = UnsafeMutablePointer<UInt16>.allocate(capacity: count)
                defer { aligned.deallocate() }
                UnsafeMutableRawPointer(aligned).copyMemory(from: source, byteCount: info.byteCount)
                convert(aligned, tensor.pointer, count)
            }
            return tensor
        }
    }
}
