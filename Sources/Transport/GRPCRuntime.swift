import Basics
import CGRPC
import Foundation

/// grpc_init once per process (never shut down: the library's background threads stay for
/// the process lifetime, and a later init would cost a restart).
enum GRPCRuntime {
    private static let initialized: Bool = {
        keepLargeAllocationsInTheHeap()
        grpc_init()
        return true
    }()

    /// gRPC allocates its read slices (up to MiBs) on one thread and they are freed on another;
    /// with glibc's defaults those come from fresh mmaps or trimmed heap, so every received
    /// byte first costs a page fault and a page clear (~20% of the receiver's CPU, measured).
    /// Serving from a heap that is not handed back keeps those pages resident. Process-wide,
    /// which suits the daemons (one transport-heavy process each).
    private static func keepLargeAllocationsInTheHeap() {
        _ = mallopt(M_MMAP_THRESHOLD, 32 << 20)  // glibc's maximum on 64-bit
        _ = mallopt(M_TRIM_THRESHOLD, 512 << 20)
    }

    static func ensureInitialized() { _ = initialized }
}

/// A point in time calls must finish by (monotonic clock).
public struct Deadline: Sendable, Equatable {
    /// Seconds on the monotonic clock; nil = no deadline.
    let monotonicSeconds: Double?

    public static let never = Deadline(monotonicSeconds: nil)

    public static func after(seconds: Double) -> Deadline {
        Deadline(monotonicSeconds: Basics.monotonicSeconds() + seconds)
    }

    /// Seconds left (negative when passed); nil when there is no deadline.
    public var remainingSeconds: Double? { monotonicSeconds.map { $0 - Basics.monotonicSeconds() } }

    public var hasPassed: Bool { (remainingSeconds ?? 1) <= 0 }

    /// gpr_timespec for grpc calls.
    var grpcTime: gpr_timespec {
        guard let remaining = remainingSeconds else { return gpr_inf_future(GPR_CLOCK_MONOTONIC) }
        let nanos = Int64(max(remaining, 0) * 1e9)
        return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_nanos(nanos, GPR_TIMESPAN))
    }

    /// From a deadline grpc reports (any clock).
    init(_ spec: gpr_timespec) {
        if gpr_time_cmp(spec, gpr_inf_future(spec.clock_type)) == 0 {
            monotonicSeconds = nil
            return
        }
        let left = gpr_time_sub(gpr_convert_clock_type(spec, GPR_CLOCK_MONOTONIC), gpr_now(GPR_CLOCK_MONOTONIC))
        monotonicSeconds = Basics.monotonicSeconds() + Double(left.tv_sec) + Double(left.tv_nsec) * 1e-9
    }

    init(monotonicSeconds: Double?) { self.monotonicSeconds = monotonicSeconds }
}

/// Slice helpers (grpc_slice ↔ Swift).
enum Slices {
    static func string(_ slice: grpc_slice) -> String {
        var copy = slice
        let count = cgrpc_slice_length(&copy)
        guard count > 0 else { return "" }
        return String(decoding: UnsafeBufferPointer(start: cgrpc_slice_start(&copy), count: count), as: UTF8.self)
    }

    static func from(_ string: String) -> grpc_slice {
        var string = string
        return string.withUTF8 { grpc_slice_from_copied_buffer(UnsafeRawPointer($0.baseAddress)?.assumingMemoryBound(to: CChar.self), $0.count) }
    }
}

/// A lock with a condition (one per call or server), waits bounded by a deadline when asked.
final class Monitor {
    private let condition = NSCondition()

    func locked<R>(_ body: () throws -> R) rethrows -> R {
        condition.lock()
        defer { condition.unlock() }
        return try body()
    }

    /// Waits (lock held by the caller through `locked`) until signalled or `seconds` pass.
    func wait(seconds: Double? = nil) {
        if let seconds {
            _ = condition.wait(until: Date(timeIntervalSinceNow: seconds))
        } else {
            condition.wait()
        }
    }

    func broadcast() { condition.broadcast() }
}

/// A started thread that can be joined.
final class JoinableThread {
    private let done = DispatchSemaphore(value: 0)

    init(name: String, stackSize: Int = 4 << 20, _ body: @escaping () -> Void) {
        let thread = Thread { [done] in
            body()
            done.signal()
        }
        thread.name = name
        thread.stackSize = stackSize
        thread.start()
    }

    func join() { done.wait() }
}
