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

/// Gives the memory a burst of work freed back to the system (`malloc_trim(0)`, which also releases
/// free pages inside the heap, not only at its top). glibc keeps freed memory: after a large free
/// it raises its mmap threshold, so later buffers of that size come from the heap, and a heap
/// shrinks only from its top. Three concurrent 2100-token prompts on tiny grow prefill rank 0's
/// [heap] mapping from 2.4 to 14.8 MB; the trim alone left 10.5 MB of it, the trim after the step
/// buffers are freed (`DeepSeekTransformer.releaseStepBuffers`) 3.0 MB. Call it when idle: a busy
/// process reuses that memory for its next batch.
public enum FreedMemory {
    public static func returnToSystem() {
        #if canImport(Glibc)
        _ = glibcMallocTrim(0)
        #endif
    }
}

#if canImport(Glibc)
@_silgen_name("mallopt") private func glibcMallopt(_ parameter: Int32, _ value: Int32) -> Int32
@_silgen_name("malloc_trim") private func glibcMallocTrim(_ pad: Int) -> Int32
#endif
