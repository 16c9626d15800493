import Dispatch
import Foundation

/// Threads for blocking work (the transport's calls block until the next message), kept for reuse:
/// a request takes an idle thread instead of starting one (tens of microseconds on its first-token
/// path). The pool grows to the peak of concurrent jobs and keeps its threads.
final class BlockingThreads: @unchecked Sendable {
    static let shared = BlockingThreads(name: "generate")

    private final class Worker: @unchecked Sendable {
        let wake = DispatchSemaphore(value: 0)
        var job: (() -> Void)?   // set before `wake` is signalled, read after it is waited on
    }

    private let name: String
    private let lock = NSLock()
    private var idle: [Worker] = []

    init(name: String) { self.name = name }

    /// Runs `job` on an idle thread, or on a new one when none is idle.
    func run(_ job: @escaping () -> Void) {
        if let worker = lock.withLock({ idle.popLast() }) {
            worker.job = job
            worker.wake.signal()
            return
        }
        let worker = Worker()
        worker.job = job
        let thread = Thread { [self] in
            while true {
                let job = worker.job!
                worker.job = nil
                job()
                lock.withLock { idle.append(worker) }
                worker.wake.wait()
            }
        }
        thread.name = name
        thread.start()
    }
}
