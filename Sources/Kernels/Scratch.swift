/// A growable, 64-byte aligned float buffer reused across steps, so hot loops never allocate.
/// Grows only when a larger request arrives (then keeps the larger size).
public final class Scratch: @unchecked Sendable {
    public private(set) var pointer: UnsafeMutablePointer<Float>
    public private(set) var capacity: Int

    public init(capacity: Int = 0) {
        self.capacity = max(capacity, 16)
        pointer = Scratch.allocate(self.capacity)
    }

    deinit { free(pointer) }

    /// Pointer to at least `count` floats; contents are unspecified after growth.
    @inline(__always)
    public func reserve(_ count: Int) -> UnsafeMutablePointer<Float> {
        if count > capacity {
            free(pointer)
            capacity = max(count, capacity + capacity / 2)
            pointer = Scratch.allocate(capacity)
        }
        return pointer
    }

    /// Pointer to `count` zeroed floats.
    public func zeroed(_ count: Int) -> UnsafeMutablePointer<Float> {
        let p = reserve(count)
        p.initialize(repeating: 0, count: count)
        return p
    }

    private static func allocate(_ count: Int) -> UnsafeMutablePointer<Float> {
        var raw: UnsafeMutableRawPointer?
        guard posix_memalign(&raw, 64, count * MemoryLayout<Float>.stride) == 0, let raw else {
            fatalError("Scratch: out of memory allocating \(count) floats")
        }
        return raw.bindMemory(to: Float.self, capacity: count)
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
