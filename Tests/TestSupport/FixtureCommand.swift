import Foundation

/// Reference data made by the repository's own scripts (`scripts/python-env`, the fixture
/// generators) for tests that compare against Python implementations: one way to run them and one
/// cache location. Failing to produce a reference is an error, never a skip.
public enum FixtureCommand {
    public struct Failed: Error, CustomStringConvertible {
        public let description: String
    }

    /// The package root (this file is Tests/TestSupport/FixtureCommand.swift).
    public static var packageRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    /// $LATENTSERVE_CACHE or ~/.cache/latentserve: where scripts/python-env keeps the venv and sources.
    public static var cacheDirectory: URL {
        let base = ProcessInfo.processInfo.environment["LATENTSERVE_CACHE"]
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/latentserve").path
        return URL(fileURLWithPath: base)
    }

    /// Longest a fixture command may run (a first setup installs venvs from PyPI): a command that hangs
    /// is killed and fails its test rather than holding the run — and a core — until CI's limit, and it
    /// does not outlive a killed test process by more than this.
    public static let timeLimitSeconds = 1800

    /// Runs `arguments` (through coreutils `timeout` and /usr/bin/env) from the package root; returns stdout
    /// trimmed, throws with the tail of stderr on a non-zero exit or past `timeLimitSeconds`. Stderr is
    /// passed on, so a long first setup shows.
    public static func run(_ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/timeout")
        process.arguments = ["--kill-after=10", String(timeLimitSeconds), "/usr/bin/env"] + arguments
        process.currentDirectoryURL = packageRoot
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        if !errData.isEmpty { FileHandle.standardError.write(errData) }
        guard process.terminationStatus != 124 && process.terminationStatus != 137 else {
            throw Failed(description: "\(arguments.joined(separator: " ")) did not finish within \(timeLimitSeconds) s (killed)")
        }
        guard process.terminationStatus == 0 else {
            throw Failed(description: "\(arguments.joined(separator: " ")) exited \(process.terminationStatus): "
                + String(decoding: errData, as: UTF8.self).suffix(600))
        }
        return String(decoding: outData, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
