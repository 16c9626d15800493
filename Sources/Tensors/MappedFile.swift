#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A read-only private memory map of a whole file, unmapped when the last tensor viewing it goes.
final class MappedFile: @unchecked Sendable {
    let path: String
    let base: UnsafeMutableRawPointer
    let size: Int

    init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw TensorError.unreadable(file: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw TensorError.unreadable(file: path, reason: String(cString: strerror(errno))) }
        size = Int(st.st_size)
        guard size > 0 else { throw TensorError.truncated(file: path, expectedBytes: 8, foundBytes: 0) }
        // MAP_PRIVATE + PROT_WRITE: pages stay shared with the page cache until written (never, by us).
        guard let p = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0), p != MAP_FAILED else {
            throw TensorError.unreadable(file: path, reason: "mmap failed: \(String(cString: strerror(errno)))")
        }
        base = p
    }

    deinit { munmap(base, size) }
}
