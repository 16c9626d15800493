import Dispatch

/// Splits independent work (attention heads, weight-row blocks) over the BLAS thread budget:
/// `workers` threads each run single-threaded BLAS, so the process still uses `BLAS.threads` cores
/// and small GEMMs stop paying OpenBLAS's per-call thread hand-off.
public enum Parallel {
    /// Workers to use for a loop of `items` independent parts: min(BLAS threads, items), ≥ 1.
    public static func workers(for items: Int) -> Int { max(1, min(BLAS.threads, items)) }

    /// Calls body(w) for w in 0..<workers concurrently (inline when workers == 1), with OpenBLAS
    /// set to one thread meanwhile; restores the thread count before returning.
    public static func run(workers: Int, _ body: (Int) -> Void) {
        guard workers > 1 else { body(0); return }
        let saved = BLAS.threads
        BLAS.setThreads(1)
        DispatchQueue.concurrentPerform(iterations: workers, execute: body)
        BLAS.setThreads(saved)
    }
}
