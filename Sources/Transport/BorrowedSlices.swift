import Basics
import CGRPC
import Wire

/// Sends caller-owned bytes without copying them: each borrowed piece becomes a slice over the
/// caller's memory, and `waitUntilReleased` blocks until gRPC dropped every such slice (the
/// bytes reached the socket or the call died), after which the caller may reuse the memory.
final class BorrowTracker {
    private let monitor = Monitor()
    private var outstanding = 0

    /// A byte buffer over `pieces`: copied pieces in fresh slices, borrowed ones by reference.
    func makeBuffer(_ pieces: [EncodedPiece]) -> UnsafeMutablePointer<grpc_byte_buffer> {
        var slices: [grpc_slice] = pieces.map { piece in
            switch piece {
            case let .copied(bytes):
                return bytes.withUnsafeBytes {
                    grpc_slice_from_copied_buffer($0.baseAddress?.assumingMemoryBound(to: CChar.self), $0.count)
                }
            case let .borrowed(bytes):
                monitor.locked { outstanding += 1 }
                let context = Unmanaged.passRetained(self).toOpaque()
                return grpc_slice_new_with_user_data(UnsafeMutableRawPointer(mutating: bytes.baseAddress), bytes.count,
                                                     { context in
                                                         Unmanaged<BorrowTracker>.fromOpaque(context!).takeRetainedValue()
                                                             .released()
                                                     }, context)
            }
        }
        let buffer = slices.withUnsafeMutableBufferPointer { grpc_raw_byte_buffer_create($0.baseAddress, $0.count)! }
        for slice in slices { grpc_slice_unref(slice) }  // the byte buffer holds its own references
        slices.removeAll()
        return buffer
    }

    private func released() {
        monitor.locked {
            outstanding -= 1
            monitor.broadcast()
        }
    }

    /// Waits until gRPC released every borrowed slice, or the call died: once `callIsDead` holds
    /// (cancelled, no send in flight), slices still parked in the dead stream's buffer are only
    /// unreferenced when the call is destroyed, never read again; after a short grace for a
    /// socket write already under way, stop waiting (waiting longer would deadlock: the call is
    /// destroyed only after its handler returns).
    func waitUntilReleased(orUntil callIsDead: () -> Bool) {
        var deadSince: Double?
        monitor.locked {
            while outstanding > 0 {
                if let since = deadSince {
                    if monotonicSeconds() - since > 0.1 { return }
                } else if callIsDead() {
                    deadSince = monotonicSeconds()
                }
                monitor.wait(seconds: 0.02)
            }
        }
    }
}
