import Foundation

/// BLAS threads per rank so that ranks × threads ≤ cores, unless OPENBLAS_NUM_THREADS says otherwise.
public enum ThreadDefaults {
    public static func blasThreads(ranks: Int) -> Int {
        if let env = ProcessInfo.processInfo.environment["OPENBLAS_NUM_THREADS"], let n = Int(env), n > 0 { return n }
        return max(1, ProcessInfo.processInfo.activeProcessorCount / max(ranks, 1))
    }
}
