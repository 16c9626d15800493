#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

#if canImport(Glibc)
private let posixWrite = Glibc.write
#elseif canImport(Darwin)
private let posixWrite = Darwin.write
#endif

/// The few POSIX file operations the reader and writer need.
enum FileSystem {
    enum Kind { case missing, file, directory, other }

    static func kind(of path: String) -> Kind {
        var st = stat()
        guard stat(path, &st) == 0 else { return .missing }
        switch st.st_mode & S_IFMT {
        case S_IFREG: return .file
        case S_IFDIR: return .directory
        default: return .other
        }
    }

    /// Bytes of a regular file (nil if it cannot be stat'ed).
    static func size(of path: String) -> Int? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return Int(st.st_size)
    }

    static func join(_ directory: String, _ name: String) -> String {
        directory.hasSuffix("/") ? directory + name : directory + "/" + name
    }

    static func lastComponent(_ path: String) -> String {
        path.split(separator: "/", omittingEmptySubsequences: true).last.map(String.init) ?? path
    }

    static func parent(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    /// Creates `path` and missing parents (mkdir -p).
    static func makeDirectories(_ path: String) throws {
        if kind(of: path) == .directory { return }
        let parentPath = parent(path)
        if parentPath != path && parentPath != "." && kind(of: parentPath) == .missing { try makeDirectories(parentPath) }
        if mkdir(path, 0o755) != 0 && errno != EEXIST {
            throw TensorError.writeFailed(file: path, reason: "mkdir: \(String(cString: strerror(errno)))")
        }
    }

    /// Writes `produce`'s output to a temporary sibling, then renames it over `path`, so readers never see
    /// a half-written file.
    static func writeAtomically(_ path: String, _ produce: (FileWriter) throws -> Void) throws {
        let temporary = path + ".partial-\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw TensorError.writeFailed(file: path, reason: "open: \(String(cString: strerror(errno)))") }
        let writer = FileWriter(fd: fd, path: path)
        do {
            try produce(writer)
            try writer.flush()
        } catch {
            close(fd)
            unlink(temporary)
            throw error
        }
        guard close(fd) == 0 else {
            unlink(temporary)
            throw TensorError.writeFailed(file: path, reason: "close: \(String(cString: strerror(errno)))")
        }
        guard rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw TensorError.writeFailed(file: path, reason: "rename: \(reason)")
        }
    }
}

/// Buffered sequential writes to one descriptor; large blocks go straight through.
final class FileWriter {
    private let fd: Int32
    private let path: String
    private var pending: [UInt8] = []
    private static let bufferLimit = 1 << 20

    init(fd: Int32, path: String) {
        self.fd = fd
        self.path = path
        pending.reserveCapacity(FileWriter.bufferLimit)
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        if pending.count + bytes.count <= FileWriter.bufferLimit {
            pending.append(contentsOf: bytes)
            return
        }
        try flush()
        if bytes.count <= FileWriter.bufferLimit { pending.append(contentsOf: bytes) } else { try writeThrough(bytes) }
    }

    func write(_ bytes: [UInt8]) throws { try bytes.withUnsafeBytes { try write($0) } }

    func flush() throws {
        guard !pending.isEmpty else { return }
        try pending.withUnsafeBytes { try writeThrough($0) }
        pending.removeAll(keepingCapacity: true)
    }

    private func writeThrough(_ bytes: UnsafeRawBufferPointer) throws {
        var done = 0
        while done < bytes.count {
            let n = posixWrite(fd, bytes.baseAddress! + done, bytes.count - done)
            if n < 0 {
                if errno == EINTR { continue }
                throw TensorError.writeFailed(file: path, reason: "write: \(String(cString: strerror(errno)))")
            }
            done += n
        }
    }
}
