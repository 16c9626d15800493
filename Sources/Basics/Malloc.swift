#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// glibc gives threads that allocate at the same time their own malloc arenas (up to 8 per core) and
/// seldom returns an arena's freed memory, so a daemon whose gRPC call threads come and go grows by a
/// heap per new arena: in the 30-minute soak decode went 72 → 80 MiB after minute 5, all of it new
/// arenas. Daemons therefore use a few: their calls are I/O-bound and the model's hot loops do not
/// allocate. `MALLOC_ARENA_MAX` in the environment still wins.
public enum MallocArenas {
    public static func limit(to count: Int32 = 4) {
        #if canImport(Glibc)
        guard getenv("MALLOC_ARENA_MAX") == nil else { return }
        _ = glibcMallopt(-8, count)   // M_ARENA_MAX (malloc.h, which the Glibc module does not import)
        #endif
    }
}

/// Gives the memory a burst of work freed back to the system once the process has been idle for
/// `idleSeconds` (`malloc_trim(0)`, which also releases free pages inside the heap, not only at its
/// top). glibc keeps freed memory: after a large free it raises its mmap threshold, so later
/// buffers of that size come from the heap, and a heap shrinks only from its top. A prefill rank
/// allocates per batch, so without this its heap stays at its largest batch so far: in the soak,
/// prefill rank 0 went 77 → 81 MiB and rank 1 59 → 65 MiB at minute 7; three concurrent
/// 2100-token prompts on tiny grow rank 0's [heap] mapping 5.0 → 15.7 MB, 10.5 MB with this.
/// What stays is live: buffers sized for the largest batch so far, kept so a busy rank does not
/// allocate (the soak still sees that step; docs/fuzzing.md). Trimming only when idle keeps it off
/// the path of a busy daemon, which reuses that memory for its next batch.
public final class IdleMemoryReturn: @unchecked Sendable {
    private let lock = NSLock()
    private var lastBusy = 0.0
    private var trimmed = true
    private let idleSeconds: Double

    /// Starts the watcher thread; it ends when this object is gone.
    public init(idleSeconds: Double = 1.0) {
        self.idleSeconds = idleSeconds
        let thread = Thread { [weak self] in
            while let interval = self?.idleSeconds {
                Thread.sleep(forTimeInterval: interval / 2)
                self?.trimIfIdle()
            }
        }
        thread.name = "memory-return"
        thread.start()
    }

    /// Call when a unit of work ends (a batch): the next idle period trims once.
    public func workEnded() {
        lock.lock()
        lastBusy = monotonicSeconds()
        trimmed = false
        lock.unlock()
    }

    private func trimIfIdle() {
        lock.lock()
        let due = !trimmed && monotonicSeconds() - lastBusy >= idleSeconds
        if due { trimmed = true }
        lock.unlock()
        #if canImport(Glibc)
        if due { _ = glibcMallocTrim(0) }
        #endif
    }
}

#if canImport(Glibc)
@_silgen_name("mallopt") private func glibcMallopt(_ parameter: Int32, _ value: Int32) -> Int32
@_silgen_name("malloc_trim") private func glibcMallocTrim(_ pad: Int) -> Int32
#endif
