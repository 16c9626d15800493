#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A whole file memory-mapped once (POSIX open/mmap, no Foundation), private copy-on-write so views can be
/// handed out as mutable pointers without any risk to the file. The descriptor is closed right after
/// mapping; the mapping goes when the last owner (store or tensor view) releases this object.
final class MappedFile: @unchecked Sendable {
    let path: String
    let base: UnsafeMutableRawPointer
    let size: Int

    init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            let code = errno
            if code == ENOENT { throw TensorError.missingFile(path) }
            throw TensorError.unreadable(file: path, reason: "open: \(String(cString: strerror(code)))")
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            throw TensorError.unreadable(file: path, reason: "fstat: \(String(cString: strerror(errno)))")
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw TensorError.unreadable(file: path, reason: "not a regular file") }
        size = Int(st.st_size)
        // mmap of 0 bytes is an error; the header check reports empty files clearly.
        guard size >= 8 else { throw TensorError.fileTooSmall(file: path, size: size) }
        let p = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0)
        guard let p, p != MAP_FAILED else {
            throw TensorError.unreadable(file: path, reason: "mmap of \(size) bytes: \(String(cString: strerror(errno)))")
        }
        base = p
    }

    deinit { munmap(base, size) }

    /// Unmaps the resident pages inside `[offset, offset + count)` (whole pages only) after their bytes
    /// were converted into a copy: the mapping is never written, so a later read just faults them
    /// back from the page cache.
    func dropPages(offset: Int, count: Int) {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = (offset + page - 1) / page * page, end = (offset + count) / page * page
        guard end > start else { return }
        _ = madvise(base + start, end - start, MADV_DONTNEED)
    }

    /// Asks the kernel to start reading `[offset, offset + count)` ahead of use (a hint; errors ignored).
    func prefetch(offset: Int, count: Int) {
        guard count > 0 else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = offset / page * page
        _ = madvise(base + start, offset + count - start, MADV_WILLNEED)
    }
}
