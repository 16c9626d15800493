#if canImport(Glibc)
import Glibc
#endif

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

#if canImport(Glibc)
@_silgen_name("mallopt") private func glibcMallopt(_ parameter: Int32, _ value: Int32) -> Int32
#endif
