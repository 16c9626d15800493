import Foundation

/// Starts this executable under `mpirun` and reads back rank 0's result: the distributed half of
/// `pd-bench pcp`, with the ranks as separate processes as a real deployment has them.
enum MPIRunLauncher {
    /// Runs `mpirun -np ranks <this executable> arguments...` (one BLAS thread per rank) and
    /// returns the last line of its output that parses as a JSON object.
    static func run(ranks: Int, arguments: [String]) throws -> [String: Any] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        let me = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let command = ["mpirun", "--oversubscribe", "--bind-to", "none", "-np", "\(ranks)", me] + arguments
        process.arguments = command
        var env = ProcessInfo.processInfo.environment
        env["OMPI_ALLOW_RUN_AS_ROOT"] = "1"; env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"; env["OPENBLAS_NUM_THREADS"] = "1"
        process.environment = env
        let out = Pipe()
        process.standardOutput = out
        process.standardError = out
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        guard process.terminationStatus == 0 else {
            throw BenchError.subprocessFailed(command: command.joined(separator: " "), status: process.terminationStatus, output: text)
        }
        guard let line = text.split(separator: "\n").last(where: { $0.hasPrefix("{") }),
              let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
            throw BenchError.unparsableOutput(text)
        }
        return object
    }
}
