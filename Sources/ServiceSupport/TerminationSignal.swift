import Dispatch
import Foundation

/// Turns SIGTERM / SIGINT into a callback (once), so a daemon drains instead of dying mid-call.
public final class TerminationSignal: @unchecked Sendable {
    private var sources: [DispatchSourceSignal] = []
    private let queue = DispatchQueue(label: "termination-signal")
    private let lock = NSLock()
    private var fired = false

    public init(_ onSignal: @escaping @Sendable (Int32) -> Void) {
        for sig in [SIGTERM, SIGINT] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: queue)
            source.setEventHandler { [weak self] in
                guard let self else { return }
                self.lock.lock()
                let first = !self.fired
                self.fired = true
                self.lock.unlock()
                if first { onSignal(sig) }
            }
            source.resume()
            sources.append(source)
        }
    }

    public var hasFired: Bool { lock.lock(); defer { lock.unlock() }; return fired }
}
