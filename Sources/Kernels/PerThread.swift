#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One instance of an object per thread, made on the thread's first use and released when the
/// thread exits. For the state a forward reuses on every call (weight panels, the jobs handed to
/// `Parallel.run`): in-process PCP ranks (tests) run their forwards on concurrent threads, so one
/// shared instance would need a lock that serialises them, and a fresh one per call would allocate
/// on every decode step.
final class PerThread<Object: AnyObject>: @unchecked Sendable {
    private var key = pthread_key_t()
    private let make: () -> Object

    init(_ make: @escaping () -> Object) {
        self.make = make
        let status = pthread_key_create(&key) { raw in
            #if canImport(Darwin)
            Unmanaged<AnyObject>.fromOpaque(raw).release()
            #else
            if let raw { Unmanaged<AnyObject>.fromOpaque(raw).release() }
            #endif
        }
        precondition(status == 0, "PerThread: pthread_key_create failed with \(status)")
    }

    /// This thread's instance.
    var current: Object {
        if let raw = pthread_getspecific(key) { return unsafeDowncast(Unmanaged<AnyObject>.fromOpaque(raw).takeUnretainedValue(), to: Object.self) }
        let object = make()
        pthread_setspecific(key, Unmanaged.passRetained(object as AnyObject).toOpaque())
        return object
    }
}
