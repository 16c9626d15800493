#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CKernels
import Synchronization

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

    /// Worker `worker`'s contiguous share of `count` items split over `workers`: equal shares, each
    /// a multiple of `multiple` (whole vector tiles), the last shorter and trailing ones possibly empty.
    public static func share(of count: Int, worker: Int, workers: Int, multiple: Int = 1) -> Range<Int> {
        let per = ((count + workers - 1) / workers + multiple - 1) / multiple * multiple
        let first = min(count, worker * per)
        return first..<min(count, first + per)
    }

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

/// Helper threads for `Parallel.run`; one job at a time (callers are the model's forward, which is
/// single-threaded by contract). Helpers are created on first need and live for the process.
///
/// Waiting spins before it parks: a decode step runs dozens of parallel loops tens of microseconds
/// apart, and waking a parked thread (futex + scheduler, 50–400 µs on a VM) cost more than the
/// loops themselves. An idle helper — and the caller waiting for its helpers — spins for up to
/// `spinSeconds` (yielding the core now and then, for oversubscribed hosts), then parks on a
/// condition variable, so an idle daemon sleeps.
final class WorkerPool: @unchecked Sendable {
    static let shared = WorkerPool()
    /// LATENTSERVE_SPIN_US (default 300 µs; 0 parks at once).
    static let spinSeconds: Double = {
        guard let text = getenv("LATENTSERVE_SPIN_US").map({ String(cString: $0) }) else { return 300e-6 }
        guard let us = Double(text), us >= 0, us <= 1e6 else {
            fatalError("LATENTSERVE_SPIN_US=\(text): expected microseconds in 0...1000000")
        }
        return us * 1e-6
    }()

    /// The job's sequence number (high bits) and its worker count (low 16 bits), published together:
    /// a helper reads both from one load, so it never pairs one job's count with another's number.
    private let published = Atomic<Int>(0)
    /// Helpers still running the current job.
    private let pending = Atomic<Int>(0)
    private let parkedHelpers = Atomic<Int>(0)
    private let callerParked = Atomic<Bool>(false)
    /// Set before `published` moves (the store orders it); read by the job's workers only, while the
    /// caller waits for them.
    private var job: ParallelJob?

    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let start = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private let done = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private let callers = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)   // one job at a time
    private var helpers = 0   // guarded by `callers`

    private init() {
        pthread_mutex_init(mutex, nil)
        pthread_mutex_init(callers, nil)
        pthread_cond_init(start, nil)
        pthread_cond_init(done, nil)
    }

    func run(workers: Int, _ job: ParallelJob) {
        precondition(workers < 1 << 16, "WorkerPool: \(workers) workers")
        pthread_mutex_lock(callers)
        defer { pthread_mutex_unlock(callers) }
        growHelpers(to: workers - 1)
        self.job = job
        pending.store(workers - 1, ordering: .relaxed)
        let sequence = (published.load(ordering: .relaxed) >> 16) &+ 1
        published.store(sequence << 16 | workers, ordering: .sequentiallyConsistent)
        // A helper parks only after counting itself and re-reading `published` (both sequentially
        // consistent): it saw this job, or we see it parked and wake it.
        if parkedHelpers.load(ordering: .sequentiallyConsistent) > 0 {
            pthread_mutex_lock(mutex)
            pthread_cond_broadcast(start)
            pthread_mutex_unlock(mutex)
        }
        job.work(worker: 0, workers: workers)
        if !Self.spin(until: { pending.load(ordering: .acquiring) == 0 }) {
            pthread_mutex_lock(mutex)
            callerParked.store(true, ordering: .sequentiallyConsistent)
            while pending.load(ordering: .sequentiallyConsistent) > 0 { pthread_cond_wait(done, mutex) }
            callerParked.store(false, ordering: .relaxed)
            pthread_mutex_unlock(mutex)
        }
        self.job = nil
    }

    /// Spins until `ready` (true) or for `spinSeconds` (false).
    @inline(__always)
    private static func spin(until ready: () -> Bool) -> Bool {
        if ready() { return true }
        guard spinSeconds > 0 else { return false }
        let deadline = monotonicSeconds() + spinSeconds
        while true {
            for _ in 0..<64 {
                if ready() { return true }
                ck_spin_pause()
            }
            if monotonicSeconds() > deadline { return ready() }
            sched_yield()
        }
    }

    private func growHelpers(to count: Int) {
        while helpers < count {
            let index = helpers + 1                                     // helper i runs worker i
            let seen = published.load(ordering: .relaxed)               // it waits for the next job
            let context = Unmanaged.passRetained(HelperContext(pool: self, worker: index, seen: seen)).toOpaque()
            var thread = pthread_t()
            let status = pthread_create(&thread, nil, { raw in
                let context = Unmanaged<HelperContext>.fromOpaque(raw!).takeRetainedValue()
                // Named for top -H, perf and gdb (and the allocation tests, which count these threads).
                ck_name_this_thread("ls-worker-\(context.worker)")
                context.pool.helperLoop(worker: context.worker, seen: context.seen)
            }, context)
            precondition(status == 0, "WorkerPool: pthread_create failed with \(status)")
            pthread_detach(thread)
            helpers += 1
        }
    }

    private func helperLoop(worker: Int, seen initial: Int) -> Never {
        var seen = initial
        while true {
            if !Self.spin(until: { published.load(ordering: .acquiring) != seen }) {
                pthread_mutex_lock(mutex)
                parkedHelpers.add(1, ordering: .sequentiallyConsistent)
                while published.load(ordering: .sequentiallyConsistent) == seen { pthread_cond_wait(start, mutex) }
                parkedHelpers.subtract(1, ordering: .relaxed)
                pthread_mutex_unlock(mutex)
            }
            seen = published.load(ordering: .acquiring)
            let workers = seen & 0xffff
            // Not one of this job's workers: the caller does not wait for us, and may publish the
            // next job at any moment; the loop reads that from `published`, never from `job`.
            guard worker < workers, let job else { continue }
            job.work(worker: worker, workers: workers)
            let left = pending.subtract(1, ordering: .sequentiallyConsistent).newValue
            if left == 0 && callerParked.load(ordering: .sequentiallyConsistent) {
                pthread_mutex_lock(mutex)
                pthread_cond_signal(done)
                pthread_mutex_unlock(mutex)
            }
        }
    }

    private final class HelperContext {
        let pool: WorkerPool, worker: Int, seen: Int
        init(pool: WorkerPool, worker: Int, seen: Int) { self.pool = pool; self.worker = worker; self.seen = seen }
    }
}
