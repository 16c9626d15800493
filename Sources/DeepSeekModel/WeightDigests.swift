import CXXHash
import Foundation
import Tensors

/// XXH3-64 of every loadable tensor's stored bytes, for ModelFingerprint. Hashing the bench model
/// (1.3 GB) costs a pass over it, so digests are cached per safetensors file, keyed on the file's
/// absolute path, size and modification time (ns): beside the model in
/// `.latentserve-weight-digests.json`, or — when that folder is not writable — in
/// ~/.cache/latentserve/fingerprints/<XXH3 of the folder path>.json.
public enum WeightDigests {
    public static let cacheFileName = ".latentserve-weight-digests.json"
    public static var defaultFallbackDirectory: String {
        (NSHomeDirectory() as NSString).appendingPathComponent(".cache/latentserve/fingerprints")
    }

    public struct Result: Sendable {
        /// tensor name → XXH3-64 (seed 0) of its bytes, for every name in store.tensorNames.
        public let digests: [String: UInt64]
        /// Files hashed now (the others came from the cache).
        public let hashedFiles: [String]
    }

    public static func compute(_ store: SafetensorsStore, fallbackDirectory: String = defaultFallbackDirectory) -> Result {
        let folder = absolute(store.directory)
        let local = (folder as NSString).appendingPathComponent(cacheFileName)
        let fallback = (fallbackDirectory as NSString).appendingPathComponent(String(cxxhash_xxh3_64(folder, folder.utf8.count, 0), radix: 16) + ".json")
        var cached: [String: FileEntry] = [:]
        for path in [fallback, local] {                     // the folder's own cache wins
            for entry in CacheFile.read(path)?.files ?? [] { cached[entry.path] = entry }
        }
        var byFile: [String: [String]] = [:]
        for name in store.tensorNames { byFile[store.info(name)!.file, default: []].append(name) }

        var digests: [String: UInt64] = [:], entries: [FileEntry] = [], hashed: [String] = []
        for file in store.files {
            let path = (folder as NSString).appendingPathComponent(file), names = byFile[file] ?? []
            guard let status = FileStatus(path: path) else { continue }
            if let entry = cached[path], entry.size == status.size, entry.mtimeNanoseconds == status.mtimeNanoseconds,
               let known = entry.decoded(), Set(known.keys) == Set(names) {
                digests.merge(known) { a, _ in a }
                entries.append(entry)
                continue
            }
            var fileDigests: [String: UInt64] = [:]
            for name in names {
                let bytes = store.rawBytes(name)!
                fileDigests[name] = cxxhash_xxh3_64(bytes.baseAddress, bytes.count, 0)
            }
            digests.merge(fileDigests) { a, _ in a }
            entries.append(FileEntry(path: path, status: status, digests: fileDigests))
            hashed.append(file)
        }
        if !hashed.isEmpty {
            let content = CacheFile(version: CacheFile.currentVersion, files: entries)
            if !content.write(to: local) {
                try? FileManager.default.createDirectory(atPath: fallbackDirectory, withIntermediateDirectories: true)
                _ = content.write(to: fallback)                // best effort: the digests are correct either way
            }
        }
        return Result(digests: digests, hashedFiles: hashed)
    }

    private static func absolute(_ path: String) -> String {
        path.hasPrefix("/") ? path : (FileManager.default.currentDirectoryPath as NSString).appendingPathComponent(path)
    }

    /// Size and modification time of a file (stat), the cache key beside its path.
    struct FileStatus {
        let size: Int, mtimeNanoseconds: Int

        init?(path: String) {
            var st = stat()
            guard stat(path, &st) == 0 else { return nil }
            size = Int(st.st_size)
            mtimeNanoseconds = Int(st.st_mtim.tv_sec) * 1_000_000_000 + Int(st.st_mtim.tv_nsec)
        }
    }

    struct FileEntry: Codable {
        let path: String
        let size: Int
        let mtimeNanoseconds: Int
        /// tensor name → 16 hex digits.
        let tensors: [String: String]

        init(path: String, status: FileStatus, digests: [String: UInt64]) {
            self.path = path
            size = status.size
            mtimeNanoseconds = status.mtimeNanoseconds
            tensors = digests.mapValues { String($0, radix: 16) }
        }

        /// The digests, or nil when an entry does not parse.
        func decoded() -> [String: UInt64]? {
            var out: [String: UInt64] = [:]
            for (name, hex) in tensors {
                guard let v = UInt64(hex, radix: 16) else { return nil }
                out[name] = v
            }
            return out
        }
    }

    struct CacheFile: Codable {
        static let currentVersion = 1
        let version: Int
        let files: [FileEntry]

        /// nil when missing, unreadable or of another version.
        static func read(_ path: String) -> CacheFile? {
            guard let data = FileManager.default.contents(atPath: path),
                  let file = try? JSONDecoder().decode(CacheFile.self, from: data), file.version == currentVersion else { return nil }
            return file
        }

        /// Written to a temporary sibling and renamed, so a concurrent reader (another rank) never
        /// sees half a file. false when the folder is not writable.
        func write(to path: String) -> Bool {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            guard let data = try? encoder.encode(self) else { return false }
            let temporary = path + ".partial-\(getpid())"
            guard FileManager.default.createFile(atPath: temporary, contents: data) else { return false }
            guard rename(temporary, path) == 0 else { unlink(temporary); return false }
            return true
        }
    }
}
