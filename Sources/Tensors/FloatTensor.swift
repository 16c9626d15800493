#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A dense row-major f32 tensor: either its own 64-byte aligned memory, or a zero-copy view of an
/// f32 region of a memory-mapped checkpoint (kept alive by `owner`).
public final class FloatTensor: @unchecked Sendable {
    public let shape: [Int]
    public let count: Int
    public let pointer: UnsafeMutablePointer<Float>
    private let owned: Bool
    private let owner: AnyObject?

    /// Zero-filled.
    public init(shape: [Int]) {
        self.shape = shape
        count = shape.reduce(1, *)
        var raw: UnsafeMutableRawPointer?
        guard posix_memalign(&raw, 64, max(count, 1) * MemoryLayout<Float>.stride) == 0, let raw else {
            fatalError("FloatTensor: out of memory for shape \(shape)")
        }
        pointer = raw.bindMemory(to: Float.self, capacity: max(count, 1))
        pointer.initialize(repeating: 0, count: count)
        owned = true
        owner = nil
    }

    public convenience init(shape: [Int], values: [Float]) {
        precondition(values.count == shape.reduce(1, *), "FloatTensor: \(values.count) values for shape \(shape)")
        self.init(shape: shape)
        values.withUnsafeBufferPointer { pointer.update(from: $0.baseAddress!, count: count) }
    }

    /// A view of memory owned by `owner` (a mapped file). Writing through it is undefined.
    init(shape: [Int], viewing base: UnsafeMutablePointer<Float>, owner: AnyObject) {
        self.shape = shape
        count = shape.reduce(1, *)
        pointer = base
        owned = false
        self.owner = owner
    }

    deinit { if owned { free(pointer) } }

    public var buffer: UnsafeBufferPointer<Float> { UnsafeBufferPointer(start: pointer, count: count) }
    public func toArray() -> [Float] { Array(buffer) }
}
