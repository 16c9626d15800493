#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A dense row-major f32 tensor: either its own zero-filled, 64-byte aligned memory (malloc'd, or a
/// weight's `WeightMemory`), or a zero-copy view of an f32 region of a memory-mapped checkpoint, kept
/// alive by `owner`.
///
/// Views are private copy-on-write mappings: writing through `pointer` never changes the file, but two
/// loads of the same tensor share pages, so treat loaded weights as read-only.
public final class FloatTensor: @unchecked Sendable {
    public let shape: [Int]
    public let count: Int
    public let pointer: UnsafeMutablePointer<Float>
    /// True when this tensor views a mapped file (or another tensor) instead of owning its memory.
    public let isView: Bool
    private let owner: AnyObject?

    /// Zero-filled, 64-byte aligned.
    public init(shape: [Int]) {
        self.shape = shape
        count = FloatTensor.elementCount(shape)
        let bytes = max(count, 1) * MemoryLayout<Float>.stride
        var raw: UnsafeMutableRawPointer?
        guard posix_memalign(&raw, 64, bytes) == 0, let raw else {
            fatalError("FloatTensor: cannot allocate \(bytes) bytes for shape \(shape)")
        }
        memset(raw, 0, bytes)
        pointer = raw.bindMemory(to: Float.self, capacity: max(count, 1))
        isView = false
        owner = nil
    }

    /// Zero-filled, in `WeightMemory` (huge pages from 2 MiB): for a weight converted or fused at load.
    public init(weightShape shape: [Int]) {
        self.shape = shape
        count = FloatTensor.elementCount(shape)
        let memory = WeightMemory.allocate(count: max(count, 1) * MemoryLayout<Float>.stride, for: "a weight of shape \(shape)")
        pointer = memory.pointer.bindMemory(to: Float.self, capacity: max(count, 1))
        isView = false
        owner = memory
    }

    /// Copies `values` (row-major, `values.count` must equal the product of `shape`).
    public convenience init(shape: [Int], values: [Float]) {
        self.init(shape: shape)
        precondition(values.count == count, "FloatTensor: \(values.count) values for shape \(shape) (\(count) elements)")
        values.withUnsafeBufferPointer { pointer.update(from: $0.baseAddress!, count: count) }
    }

    /// A view of `count(shape)` floats at `base`, memory owned by `owner` (a mapped file or a tensor).
    init(shape: [Int], viewing base: UnsafeMutablePointer<Float>, owner: AnyObject) {
        self.shape = shape
        count = FloatTensor.elementCount(shape)
        pointer = base
        isView = true
        self.owner = owner
    }

    deinit { if !isView && owner == nil { free(pointer) } }   // else the owner frees

    public var buffer: UnsafeBufferPointer<Float> { UnsafeBufferPointer(start: pointer, count: count) }
    public var mutableBuffer: UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(start: pointer, count: count) }
    public func toArray() -> [Float] { Array(buffer) }

    /// For a view of a checkpoint tensor that is never read again (a part copied into a fused
    /// weight): drops its resident pages — the whole pages inside it, of the mapping or of its
    /// huge-page copy, which the store then forgets — so the fused copy is not held twice in RSS.
    /// Anything but a view of a checkpoint file is left alone.
    public func dropMappedPages() {
        guard isView, let file = owner as? MappedFile else { return }
        file.dropPages(at: UnsafeRawPointer(pointer), count: count * MemoryLayout<Float>.stride)
    }

    /// The same memory under another shape with the same element count (no copy).
    public func reshaped(_ newShape: [Int]) -> FloatTensor {
        precondition(FloatTensor.elementCount(newShape) == count, "FloatTensor: cannot reshape \(shape) to \(newShape)")
        return FloatTensor(shape: newShape, viewing: pointer, owner: self)
    }

    static func elementCount(_ shape: [Int]) -> Int {
        shape.reduce(1) { total, dim in
            precondition(dim >= 0, "FloatTensor: negative dimension in shape \(shape)")
            return total * dim
        }
    }
}
