import Foundation
@testable import Kernels
import XCTest

/// `Parallel.run` hands every worker index of every job to exactly one thread, job after job, on
/// both of the pool's paths: helpers still spinning from the last job, and helpers parked.
final class ParallelTests: XCTestCase {
    /// Counts, per job, how often each worker index ran (a job writes only its own row).
    /// The counts live in one fixed buffer: workers of a job write it at once, which a Swift array
    /// property does not allow (each write is a mutating access that may copy the array).
    final class CountingJob: ParallelJob, @unchecked Sendable {
        let counts: UnsafeMutableBufferPointer<Int32>   // [jobs, maxWorkers]
        let maxWorkers: Int
        var jobIndex = 0
        init(jobs: Int, maxWorkers: Int) {
            counts = .allocate(capacity: jobs * maxWorkers)
            counts.initialize(repeating: 0)
            self.maxWorkers = maxWorkers
        }
        deinit { counts.deallocate() }
        func work(worker: Int, workers: Int) {
            counts[jobIndex * maxWorkers + worker] += 1
        }
    }

    func check(jobs: Int, pauseMicroseconds: useconds_t) {
        let maxWorkers = 4
        let job = CountingJob(jobs: jobs, maxWorkers: maxWorkers)
        var expected = [Int32](repeating: 0, count: jobs * maxWorkers)
        for j in 0..<jobs {
            let workers = 1 + (j * 7) % maxWorkers   // 1, 4, 3, 2, …: helpers sit out some jobs
            job.jobIndex = j
            Parallel.run(workers: workers, job)
            for w in 0..<workers { expected[j * maxWorkers + w] = 1 }
            if pauseMicroseconds > 0 { usleep(pauseMicroseconds) }
        }
        XCTAssertEqual(Array(job.counts), expected)
    }

    func testBackToBackJobsWhileHelpersSpin() {
        check(jobs: 20_000, pauseMicroseconds: 0)
    }

    func testJobsAfterHelpersParked() {
        // Longer than the spin (300 µs by default): every job wakes parked helpers.
        check(jobs: 200, pauseMicroseconds: UInt32(WorkerPool.spinSeconds * 1e6) + 2_000)
    }

    /// Shares cover 0..<count in order without gaps or overlaps, all but the last a whole multiple.
    func testSharesTileTheCount() {
        for (count, workers, multiple) in [(0, 2, 1), (1, 2, 16), (7, 3, 1), (2048, 2, 16), (600, 2, 16), (33, 4, 16), (5, 8, 1)] {
            let shares = (0..<workers).map { Parallel.share(of: count, worker: $0, workers: workers, multiple: multiple) }
            XCTAssertEqual(shares.reduce(0) { $0 + $1.count }, count, "\(count) over \(workers)")
            var next = 0
            for s in shares where !s.isEmpty {
                XCTAssertEqual(s.lowerBound, next, "\(count) over \(workers): \(shares)")
                if s.upperBound < count { XCTAssertEqual(s.count % multiple, 0, "\(shares)") }
                next = s.upperBound
            }
        }
        XCTAssertEqual(Parallel.share(of: 600, worker: 1, workers: 2, multiple: 16), 304..<600)
    }
}
