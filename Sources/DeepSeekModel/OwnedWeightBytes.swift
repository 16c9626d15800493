#if canImport(Glibc)
import Glibc
#endif

/// 64-byte aligned memory for a weight repacked or converted at load (a transposed W_UK, a
/// dtype conversion), freed with the model.
final class OwnedWeightBytes: @unchecked Sendable {
    let pointer: UnsafeMutableRawPointer
    let count: Int

    init(count: Int) {
        var raw: UnsafeMutableRawPointer?
        guard posix_memalign(&raw, 64, max(count, 64)) == 0, let raw else {
            fatalError("OwnedWeightBytes: cannot allocate \(count) bytes")
        }
        pointer = raw
        self.count = count
    }

    deinit { free(pointer) }
}
