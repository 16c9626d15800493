#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Work that `Parallel.run` splits over worker threads: a class holding its operands, so a call
/// allocates nothing (a closure handed to other threads is boxed on every call: GCD's
/// concurrentPerform allocated ~4 blocks per call, withoutActuallyEscaping one).
public protocol ParallelJob: AnyObject {
    /// Runs worker `worker`'s share (0 ..< workers), typically items worker, worker + workers, ...
    func work(worker: Int, workers: Int)
}

/// Splits independent work (attention heads, weight-row blocks) over the BLAS thread budget:
/// `workers` threads each run single-threaded BLAS, so the process still uses `BLAS.threads` cores
/// and small GEMMs stop paying OpenBLAS's per-call thread hand-off.
public enum Parallel {
    /// Workers to use for a loop of `items` independent parts: min(BLAS threads, items), ≥ 1.
    public static func workers(for items: Int) -> Int { max(1, min(BLAS.threads, items)) }

    /// Calls job.work(w, workers) for w in 0..<workers concurrently (inline when workers == 1), with
    /// OpenBLAS set to one thread meanwhile; restores the thread count before returning. Worker 0
    /// is the calling thread, the others persistent helper threads.
    public static func run(workers: Int, _ job: ParallelJob) {
        guard workers > 1 else { job.work(worker: 0, workers: 1); return }
        let saved = BLAS.threads
        BLAS.setThreads(1)
        WorkerPool.shared.run(workers: workers, job)
        BLAS.setThreads(saved)
    }
}

/// Helper threads parked on a condition variable; one job at a time (callers are the model's
/// forward, which is single-threaded by contract). Helpers are created on first need and live
/// for the process.
final class WorkerPool: @unchecked Sendable {
    static let shared = WorkerPool()

    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let start = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private let done = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private let callers = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)   // one job at a time
    // Guarded by `mutex`.
    private var helpers = 0
    private var generation = 0
    private var job: ParallelJob?
    private var jobWorkers = 0
    private var pending = 0

    private init() {
        pthread_mutex_init(mutex, nil)
        pthread_mutex_init(callers, nil)
        pthread_cond_init(start, nil)
        pthread_cond_init(done, nil)
    }

    func run(workers: Int, _ job: ParallelJob) {
        pthread_mutex_lock(callers)
        defer { pthread_mutex_unlock(callers) }
        growHelpers(to: workers - 1)
        pthread_mutex_lock(mutex)
        self.job = job
        jobWorkers = workers
        pending = workers - 1
        generation &+= 1
        pthread_cond_broadcast(start)
        pthread_mutex_unlock(mutex)
        job.work(worker: 0, workers: workers)
        pthread_mutex_lock(mutex)
        while pending > 0 { pthread_cond_wait(done, mutex) }
        self.job = nil
        pthread_mutex_unlock(mutex)
    }

    private func growHelpers(to count: Int) {
        while helpers < count {
            pthread_mutex_lock(mutex)
            let index = helpers + 1                      // helper i runs worker i
            let current = generation                     // it waits for the next job, not an earlier one
            pthread_mutex_unlock(mutex)
            let context = Unmanaged.passRetained(HelperContext(pool: self, worker: index, generation: current)).toOpaque()
            var thread = pthread_t()
            let status = pthread_create(&thread, nil, { raw in
                let context = Unmanaged<HelperContext>.fromOpaque(raw!).takeRetainedValue()
                context.pool.helperLoop(worker: context.worker, seen: context.generation)
            }, context)
            precondition(status == 0, "WorkerPool: pthread_create failed with \(status)")
            pthread_detach(thread)
            pthread_mutex_lock(mutex)
            helpers += 1
            pthread_mutex_unlock(mutex)
        }
    }

    private func helperLoop(worker: Int, seen initial: Int) -> Never {
        pthread_mutex_lock(mutex)
        var seen = initial
        while true {
            while generation == seen { pthread_cond_wait(start, mutex) }
            seen = generation
            guard worker < jobWorkers, let job else { continue }
            let workers = jobWorkers
            pthread_mutex_unlock(mutex)
            job.work(worker: worker, workers: workers)
            pthread_mutex_lock(mutex)
            pending -= 1
            if pending == 0 { pthread_cond_signal(done) }
        }
    }

    private final class HelperContext {
        let pool: WorkerPool, worker: Int, generation: Int
        init(pool: WorkerPool, worker: Int, generation: Int) { self.pool = pool; self.worker = worker; self.generation = generation }
    }
}
