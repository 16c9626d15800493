import Kernels
import Tensors

/// Turns checkpoint tensors into `WeightMatrix` views for one `WeightsDType`, and keeps alive
/// whatever they point into (mapped files, scale grids, buffers converted or repacked at load).
///
/// - Stored dtype kept (`auto`, or the target equals what is stored): a zero-copy view of the
///   mapping, so ranks on one host share the page cache. FP8 (`F8_E4M3`) needs its companion
///   `<name>_scale_inv` [ceil(rows / br), ceil(cols / bc)], block shape from `quantization_config`.
/// - An explicit target converts once: f32 exactly as the f32 loader always did (FloatTensor
///   views or conversions), bf16 into owned memory (FP8 dequantized first, then rounded).
struct WeightLoader {
    /// Floats of f32 one load-time conversion step produces (4 MiB): the loader's scratch bound.
    static let conversionStepFloats = 1 << 20

    let store: SafetensorsStore
    let target: WeightsDType
    let blockShape: (rows: Int, cols: Int)
    private(set) var keepAlive: [AnyObject] = []
    /// Bytes held for weights that are not views of the mapping (conversions, repacks, scales).
    private(set) var ownedBytes = 0
    /// True once a weight was rounded to bf16 at load (an explicit bf16 target over f32, f16 or FP8):
    /// the model then computes with other values than the checkpoint's, which the fingerprint says.
    private(set) var roundedToBF16 = false

    init(store: SafetensorsStore, config: DeepSeekConfig, target: WeightsDType) {
        self.store = store
        self.target = target
        blockShape = config.quantizationConfig?.blockShape ?? (128, 128)
    }

    /// True when linear weights end up as f32 (the original loader's path, fused copies included).
    func computesInF32(_ name: String) -> Bool {
        target == .f32 || (target == .auto && store.info(name)?.dtype == .f32)
    }

    /// A 1-D or small tensor (norm, router, bias) as f32.
    mutating func f32Tensor(_ name: String, shape: [Int]) throws -> FloatTensor {
        try store.load(name, shape: shape)
    }

    /// The linear weight `name` [rows, cols] as an f32 tensor (FP8 dequantized); `rowLookups`: see `matrix`.
    mutating func f32Matrix(_ name: String, rows: Int, cols: Int, rowLookups: Bool = false) throws -> FloatTensor {
        guard store.info(name)?.dtype == .f8E4M3 else {
            let tensor = try store.load(name, shape: [rows, cols], mappedView: rowLookups)
            if !tensor.isView { store.dropResidentPages(name) }   // converted: the copy is what counts
            return tensor
        }
        let stored = try store.stored(name, shape: [rows, cols], mappedView: true)
        defer { store.dropResidentPages(name) }
        let view = try fp8View(stored, name: name)
        let tensor = FloatTensor(weightShape: [rows, cols])
        Linear.convertRows(view, first: 0, count: rows, into: tensor.pointer)
        return tensor
    }

    /// The linear weight `name` [rows, cols] in the target representation. `rowLookups`: read a row
    /// at a time (an untied token embedding), so it stays a view of the mapping under huge-page
    /// residency (copying a 102400-row table would cost memory and speed nothing up).
    mutating func matrix(_ name: String, rows: Int, cols: Int, rowLookups: Bool = false) throws -> WeightMatrix {
        if computesInF32(name) {
            let t = try f32Matrix(name, rows: rows, cols: cols, rowLookups: rowLookups)
            return hold(t)
        }
        let converts = target != .auto && store.info(name)?.dtype != .bf16   // an explicit bf16 target over another dtype
        let stored = try store.stored(name, shape: [rows, cols], mappedView: rowLookups || converts)
        let view: WeightMatrix
        switch stored.dtype {
        case .f32: view = WeightMatrix(storage: .f32, base: stored.base, rows: rows, cols: cols)
        case .bf16: view = WeightMatrix(storage: .bf16, base: stored.base, rows: rows, cols: cols)
        case .f16: view = WeightMatrix(storage: .f16, base: stored.base, rows: rows, cols: cols)
        case .f8E4M3: view = try fp8View(stored, name: name)
        }
        keepAlive.append(stored.owner)
        // Kept as stored: an FP8 weight is scanned for NaN codes once (decode skips its per-line test).
        if target == .auto || view.storage == .bf16 { return view.scannedForNaNCodes() }
        // An explicit bf16 target over f32 / f16 / FP8: convert once, a panel of rows at a time.
        let owned = WeightMemory.allocate(count: rows * cols * 2, for: name + " as bf16")
        let panel = Scratch()
        let panelRows = max(1, Self.conversionStepFloats / max(cols, 1))
        var first = 0
        while first < rows {
            let count = min(panelRows, rows - first)
            let p = panel.reserve(count * cols)
            Linear.convertRows(view, first: first, count: count, into: p)
            BFloat16.encode(UnsafeBufferPointer(start: p, count: count * cols), into: owned.pointer + first * cols * 2)
            first += count
        }
        store.dropResidentPages(name)
        roundedToBF16 = true
        keepAlive.append(owned)
        ownedBytes += owned.count
        return WeightMatrix(storage: .bf16, base: owned.pointer, rows: rows, cols: cols)
    }

    /// Keeps an f32 tensor alive and views it.
    mutating func hold(_ t: FloatTensor) -> WeightMatrix {
        keepAlive.append(t)
        if !t.isView { ownedBytes += t.count * 4 }
        return WeightMatrix(f32: t.pointer, rows: t.shape[0], cols: t.shape[1])
    }

    /// Memory allocated here for a repack (transposed W_UK, dequantized FP8 heads).
    mutating func own(_ bytes: WeightMemory) {
        keepAlive.append(bytes)
        ownedBytes += bytes.count
    }

    private mutating func fp8View(_ stored: StoredTensor, name: String) throws -> WeightMatrix {
        let rows = stored.shape[0], cols = stored.shape[1], (br, bc) = blockShape
        let scaleShape = [(rows + br - 1) / br, (cols + bc - 1) / bc]
        let scales = try store.load(name + "_scale_inv", shape: scaleShape)   // f32 view of the mapping when aligned
        keepAlive.append(scales)
        if !scales.isView { ownedBytes += scales.count * 4 }
        keepAlive.append(stored.owner)
        return WeightMatrix(storage: .fp8E4M3(scales: UnsafePointer(scales.pointer), blockRows: br, blockCols: bc, scaleStride: scaleShape[1]),
                            base: stored.base, rows: rows, cols: cols)
    }
}
