#if canImport(Glibc)
import Glibc
#endif

/// Where a checkpoint's tensors live once the model holds them (`--weights-memory`).
public enum WeightResidency: String, CaseIterable, Sendable {
    /// Views of the memory-mapped files: the page cache holds one copy for every process on the
    /// host that maps them (PCP ranks on one machine), on 4 KiB pages.
    case mmap
    /// Each tensor the model keeps is read once into this process's anonymous memory, asked to be
    /// backed by transparent 2 MiB huge pages (MADV_HUGEPAGE). Streaming a weight then walks one page
    /// table entry per 2 MiB instead of per 4 KiB: on a Zen 4 host decode ran 0–12 % more tokens/s in
    /// the same run (BENCHMARKS.md, "Huge pages for the weights"). One copy per process.
    case hugePages = "huge-pages"

    /// True when the kernel would back an MADV_HUGEPAGE region with huge pages
    /// (/sys/kernel/mm/transparent_hugepage/enabled is `always` or `madvise`, not `never`).
    public static var transparentHugePagesAvailable: Bool {
        guard let setting = readSmallFile("/sys/kernel/mm/transparent_hugepage/enabled") else { return false }
        return !setting.contains("[never]")
    }

    /// `auto`'s choice for the checkpoint at `path`: huge pages for a process alone with its weights
    /// on this host, when the host has room for them twice over (MemAvailable ≥ 2 × the files' bytes:
    /// a prefill and a decode daemon on one host then hold a copy each); otherwise the shared mapping
    /// — other ranks on the host load the same files (one page-cache copy instead of one per rank),
    /// memory is tight, or the kernel has transparent huge pages off.
    public static func automatic(ranksOnThisHost: Int, checkpoint path: String,
                                 availableBytes: Int? = availableMemoryBytes) -> WeightResidency {
        guard ranksOnThisHost <= 1, transparentHugePagesAvailable, let availableBytes,
              let layout = try? CheckpointLayout(path: path) else { return .mmap }
        let bytes = layout.files.reduce(0) { $0 + (FileSystem.size(of: FileSystem.join(layout.folder, $1)) ?? 0) }
        return 2 * bytes <= availableBytes ? .hugePages : .mmap
    }

    /// MemAvailable of /proc/meminfo, bytes.
    public static var availableMemoryBytes: Int? {
        guard let text = readSmallFile("/proc/meminfo", limit: 1 << 14),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("MemAvailable:") }),
              let kib = line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first.flatMap({ Int($0) }) else { return nil }
        return kib * 1024
    }

    private static func readSmallFile(_ path: String, limit: Int = 256) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: limit)
        var filled = 0
        while filled < limit {
            let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + filled, limit - filled) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { break }
            filled += n
        }
        guard filled > 0 else { return nil }
        return String(decoding: bytes[..<filled], as: UTF8.self)
    }
}

/// Zero-filled anonymous memory for weights held past load (huge-page copies, conversions, fused
/// copies, repacks), freed on deinit. From 2 MiB up it is 2 MiB-aligned and advised for transparent
/// huge pages (MADV_HUGEPAGE): decode streams weights, and on 2 MiB pages a 2-thread read pass ran
/// 1.13 × as fast as on 4 KiB pages (20 interleaved rounds, Zen 4). Pages are allocated on first
/// touch only.
public final class WeightMemory: @unchecked Sendable {
    public static let hugePageBytes = 2 << 20
    public let pointer: UnsafeMutableRawPointer
    public let count: Int
    private let reservation: UnsafeMutableRawPointer
    private let reservedBytes: Int

    /// nil when the system refuses the mapping.
    public init?(count: Int) {
        let huge = Self.hugePageBytes, page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let large = count >= huge
        // Page-rounded, not huge-page-rounded: a tail past the last whole 2 MiB stays on 4 KiB pages
        // instead of taking a huge page it would mostly waste.
        let length = max(page, (count + page - 1) / page * page)
        reservedBytes = large ? length + huge : length             // slack to align the start to 2 MiB
        let p = mmap(nil, reservedBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        guard let p, p != MAP_FAILED else { return nil }
        reservation = p
        pointer = large ? p + ((huge - Int(bitPattern: p) % huge) % huge) : p
        if large { _ = madvise(pointer, length, MADV_HUGEPAGE) }  // a hint: without THP, 4 KiB pages
        self.count = count
    }

    /// For a weight the process cannot go on without.
    public static func allocate(count: Int, for what: @autoclosure () -> String) -> WeightMemory {
        guard let memory = WeightMemory(count: count) else { fatalError("cannot map \(count) bytes for \(what())") }
        return memory
    }

    deinit { munmap(reservation, reservedBytes) }
}

/// A checkpoint file's tensors read (pread, so the file mapping's pages are never touched) into a
/// `WeightMemory` as large as the file, at their file offsets: alignment is the file's, and tensors
/// read one after the other fill whole huge pages. Only the pages of tensors read in are allocated.
final class HugePageCopy: @unchecked Sendable {
    private let memory: WeightMemory
    /// File offset 0.
    var base: UnsafeMutableRawPointer { memory.pointer }
    private let path: String
    private let descriptor: Int32
    private let lock = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    /// File offset → byte count of the tensors read in (and not released since).
    private var present: [Int: Int] = [:]

    /// Takes ownership of `descriptor` (closed on deinit, or here on failure).
    init(path: String, descriptor: Int32, size: Int) throws {
        guard let memory = WeightMemory(count: size) else {
            let reason = String(cString: strerror(errno))
            close(descriptor)
            lock.deallocate()
            throw TensorError.unreadable(file: path, reason: "anonymous mmap of \(size) bytes for huge pages: \(reason)")
        }
        self.memory = memory
        self.path = path
        self.descriptor = descriptor
        pthread_mutex_init(lock, nil)
    }

    deinit {
        close(descriptor)
        pthread_mutex_destroy(lock)
        lock.deallocate()
    }

    /// The file's bytes `[offset, offset + count)` in the copy, read in on first use.
    func bytes(offset: Int, count: Int) throws -> UnsafeMutableRawPointer {
        pthread_mutex_lock(lock)
        defer { pthread_mutex_unlock(lock) }
        if let held = present[offset], held >= count { return base + offset }
        var done = 0
        while done < count {
            let n = pread(descriptor, base + offset + done, count - done, off_t(offset + done))
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                let reason = n == 0 ? "file ended at \(offset + done)" : String(cString: strerror(errno))
                throw TensorError.unreadable(file: path, reason: "read of \(count) bytes at \(offset): \(reason)")
            }
            done += n
        }
        present[offset] = count
        return base + offset
    }

    /// The copy of `[offset, offset + count)` if it was read in.
    func existing(offset: Int, count: Int) -> UnsafeMutableRawPointer? {
        pthread_mutex_lock(lock)
        defer { pthread_mutex_unlock(lock) }
        guard let held = present[offset], held >= count else { return nil }
        return base + offset
    }

    /// Frees the whole pages inside `[offset, offset + count)` (a tensor converted into another copy;
    /// pages shared with a neighbour stay) and forgets the tensor, so a later use reads it in again
    /// instead of seeing the zeros an anonymous page comes back as.
    func release(offset: Int, count: Int) {
        pthread_mutex_lock(lock)
        defer { pthread_mutex_unlock(lock) }
        guard present.removeValue(forKey: offset) != nil else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = (offset + page - 1) / page * page, end = (offset + count) / page * page
        if end > start { _ = madvise(base + start, end - start, MADV_DONTNEED) }
    }
}
