import Foundation

/// Directories under the system's temporary directory for this test process, removed when it
/// exits: what fixtures write once per process (the built-in tiny model) does not pile up in /tmp
/// run after run.
public enum ProcessScratchDirectory {
    /// <tmp>/latentserve-tests-<pid>/<name> (created by whoever writes into it).
    public static func path(_ name: String) -> String { root + "/" + name }

    private static let root: String = {
        atexit { try? FileManager.default.removeItem(atPath: ProcessScratchDirectory.rootPath) }
        return rootPath
    }()
    private static let rootPath = NSTemporaryDirectory() + "latentserve-tests-\(getpid())"
}
