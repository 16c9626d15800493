#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A whole file memory-mapped once (POSIX open/mmap, no Foundation), private copy-on-write so views can be
/// handed out as mutable pointers without any risk to the file. The descriptor is closed right after
/// mapping; the mapping goes when the last owner (store or tensor view) releases this object.
/// Under `.hugePages` residency it also owns the file's `HugePageCopy` (and a descriptor for it).
final class MappedFile: @unchecked Sendable {
    let path: String
    let base: UnsafeMutableRawPointer
    let size: Int
    let hugePages: HugePageCopy?

    init(path: String, residency: WeightResidency = .mmap) throws {
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
        if residency == .hugePages {
            let copyDescriptor = dup(fd)
            guard copyDescriptor >= 0 else {
                munmap(p, size)
                throw TensorError.unreadable(file: path, reason: "dup: \(String(cString: strerror(errno)))")
            }
            do { hugePages = try HugePageCopy(path: path, descriptor: copyDescriptor, size: size) } catch { munmap(p, size); throw error }
        } else {
            hugePages = nil
        }
    }

    deinit { munmap(base, size) }

    /// The bytes the model uses for `[offset, offset + count)`: the mapping, or under huge-page
    /// residency the copy (read in now if it was not).
    func held(offset: Int, count: Int) throws -> UnsafeMutableRawPointer {
        guard let hugePages else { return base + offset }
        return try hugePages.bytes(offset: offset, count: count)
    }

    /// Unmaps the resident pages inside `[offset, offset + count)` (whole pages only) after their bytes
    /// were converted into a copy: the mapping is never written, so a later read just faults them
    /// back from the page cache. A huge-page copy of them is freed too.
    func dropPages(offset: Int, count: Int) {
        hugePages?.release(offset: offset, count: count)
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = (offset + page - 1) / page * page, end = (offset + count) / page * page
        guard end > start else { return }
        _ = madvise(base + start, end - start, MADV_DONTNEED)
    }

    /// `dropPages` for bytes handed out at `address`: in the mapping or in the huge-page copy.
    func dropPages(at address: UnsafeRawPointer, count: Int) {
        let a = Int(bitPattern: address)
        for start in [hugePages.map { Int(bitPattern: $0.base) }, Int(bitPattern: base)].compactMap({ $0 })
        where a >= start && a + count <= start + size {
            return dropPages(offset: a - start, count: count)
        }
    }

    /// Under huge-page residency, unmaps every resident page of the mapping: the model holds copies,
    /// and what read the mapping since (conversions, the weight digests) need not stay in RSS.
    func dropMappingIfCopied() {
        guard hugePages != nil else { return }
        _ = madvise(base, size, MADV_DONTNEED)
    }

    /// Asks the kernel to start reading `[offset, offset + count)` ahead of use (a hint; errors ignored).
    func prefetch(offset: Int, count: Int) {
        guard count > 0 else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = offset / page * page
        _ = madvise(base + start, offset + count - start, MADV_WILLNEED)
    }
}
