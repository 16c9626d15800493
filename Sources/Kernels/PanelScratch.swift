#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One Scratch per thread for BLAS.linear's weight panels: in-process PCP ranks (tests) run their
/// forwards on concurrent threads, so a shared buffer would need a lock that serialises them.
enum PanelScratch {
    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        let status = pthread_key_create(&key) { raw in
            #if canImport(Darwin)
            Unmanaged<Scratch>.fromOpaque(raw).release()
            #else
            if let raw { Unmanaged<Scratch>.fromOpaque(raw).release() }
            #endif
        }
        precondition(status == 0, "PanelScratch: pthread_key_create failed with \(status)")
        return key
    }()

    /// This thread's panel buffer (created on first use, freed when the thread exits).
    static var forThisThread: Scratch {
        if let raw = pthread_getspecific(key) { return Unmanaged<Scratch>.fromOpaque(raw).takeUnretainedValue() }
        let scratch = Scratch()
        pthread_setspecific(key, Unmanaged.passRetained(scratch).toOpaque())
        return scratch
    }
}
