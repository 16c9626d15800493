/// A growable, 64-byte aligned float buffer reused across steps, so hot loops never allocate.
/// Grows only when a larger request arrives (then keeps the larger size).
///
/// With `LATENTSERVE_GUARD_SCRATCH=1` (scripts/test sets it) every allocation is exactly the size
/// asked for, ends at most 60 bytes before an inaccessible guard page and starts filled with NaN: a
/// kernel (ours or BLAS) that reads past the rows it was given faults at once instead of reading a
/// neighbour's memory, and a read of rows nobody wrote turns the result into NaN.
public final class Scratch: @unchecked Sendable {
    public private(set) var pointer: UnsafeMutablePointer<Float>
    public private(set) var capacity: Int
    private var mapping: GuardedMapping?

    public init(capacity: Int = 0) {
        self.capacity = max(capacity, Scratch.minimumCapacity)
        (pointer, mapping) = Scratch.allocate(self.capacity)
    }

    deinit { Scratch.release(pointer, mapping) }

    /// Pointer to at least `count` floats; contents are unspecified after growth.
    @inline(__always)
    public func reserve(_ count: Int) -> UnsafeMutablePointer<Float> {
        if count > capacity {
            Scratch.release(pointer, mapping)
            capacity = Scratch.guarded ? count : max(count, capacity + capacity / 2)
            (pointer, mapping) = Scratch.allocate(capacity)
        }
        return pointer
    }

    /// Gives the memory back (an idle daemon's buffers would otherwise stay at their largest batch);
    /// the next `reserve` allocates again.
    public func releaseMemory() {
        guard capacity > Scratch.minimumCapacity else { return }
        Scratch.release(pointer, mapping)
        capacity = Scratch.minimumCapacity
        (pointer, mapping) = Scratch.allocate(capacity)
    }

    /// Pointer to `count` zeroed floats.
    public func zeroed(_ count: Int) -> UnsafeMutablePointer<Float> {
        let p = reserve(count)
        p.initialize(repeating: 0, count: count)
        return p
    }

    private static let minimumCapacity = 16
    static let guarded = getenv("LATENTSERVE_GUARD_SCRATCH").map { String(cString: $0) == "1" } ?? false

    /// A guarded allocation's whole mapping (data pages + the trailing PROT_NONE page).
    private struct GuardedMapping { var base: UnsafeMutableRawPointer, bytes: Int }

    private static func allocate(_ count: Int) -> (UnsafeMutablePointer<Float>, GuardedMapping?) {
        let bytes = count * MemoryLayout<Float>.stride
        if guarded {
            let page = Int(sysconf(Int32(_SC_PAGESIZE)))
            let aligned = (bytes + 63) / 64 * 64, dataPages = (aligned + page - 1) / page * page
            guard let base = mmap(nil, dataPages + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
                  base != MAP_FAILED, mprotect(base + dataPages, page, PROT_NONE) == 0 else {
                fatalError("Scratch: cannot map a guarded buffer of \(count) floats")
            }
            let p = (base + dataPages - aligned).bindMemory(to: Float.self, capacity: count)
            p.initialize(repeating: .nan, count: count)
            return (p, GuardedMapping(base: base, bytes: dataPages + page))
        }
        var raw: UnsafeMutableRawPointer?
        guard posix_memalign(&raw, 64, bytes) == 0, let raw else {
            fatalError("Scratch: out of memory allocating \(count) floats")
        }
        return (raw.bindMemory(to: Float.self, capacity: count), nil)
    }

    private static func release(_ pointer: UnsafeMutablePointer<Float>, _ mapping: GuardedMapping?) {
        if let mapping { munmap(mapping.base, mapping.bytes) } else { free(pointer) }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
