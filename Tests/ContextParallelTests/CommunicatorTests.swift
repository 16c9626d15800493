import Foundation
import XCTest
@testable import ContextParallel

final class CommunicatorTests: XCTestCase {
    func testSelfTestPassesOnSingleRankAndInProcessGroupsOfOneToFour() throws {
        let single = try CommunicatorSelfTest.run(on: SingleRankCommunicator(), rounds: 40)
        XCTAssertEqual(single.rounds, 40)
        for p in 1...4 {
            let summaries = try InProcessGroup(size: p, timeoutSeconds: 60).run { try CommunicatorSelfTest.run(on: $0, rounds: 40) }
            XCTAssertEqual(summaries.map(\.rounds), Array(repeating: 40, count: p), "P = \(p)")
        }
    }

    func testAllGatherIsRankMajor() throws {
        for p in 1...4 {
            let results = try InProcessGroup(size: p, timeoutSeconds: 60).run { comm -> [Float] in
                let send = (0..<3).map { Float(comm.rank * 10 + $0) }
                var receive = [Float](repeating: -1, count: 3 * comm.size)
                try send.withUnsafeBufferPointer { s in try receive.withUnsafeMutableBufferPointer { try comm.allGather(s, into: $0) } }
                return receive
            }
            let expected = (0..<p).flatMap { r in (0..<3).map { Float(r * 10 + $0) } }
            XCTAssertEqual(results, Array(repeating: expected, count: p), "P = \(p)")
        }
    }

    func testAllGatherVPacksVariableCountsIncludingZero() throws {
        for p in 1...4 {
            let counts = (0..<p).map { $0 % 3 }  // 0, 1, 2, 0
            let results = try InProcessGroup(size: p, timeoutSeconds: 60).run { comm -> [Float] in
                let send = (0..<counts[comm.rank]).map { Float(comm.rank * 100 + $0) }
                var receive = [Float](repeating: -1, count: counts.reduce(0, +))
                try send.withUnsafeBufferPointer { s in
                    try receive.withUnsafeMutableBufferPointer { try comm.allGatherV(s, counts: counts, into: $0) }
                }
                return receive
            }
            let expected = (0..<p).flatMap { r in (0..<counts[r]).map { Float(r * 100 + $0) } }
            XCTAssertEqual(results, Array(repeating: expected, count: p), "P = \(p)")
        }
    }

    func testBroadcastFromEveryRoot() throws {
        for p in 1...4 {
            for root in 0..<p {
                let results = try InProcessGroup(size: p, timeoutSeconds: 60).run { comm -> [UInt8] in
                    var buffer = [UInt8](repeating: UInt8(comm.rank), count: 9)
                    try buffer.withUnsafeMutableBytes { try comm.broadcast($0, root: root) }
                    return buffer
                }
                XCTAssertEqual(results, Array(repeating: Array(repeating: UInt8(root), count: 9), count: p), "P = \(p) root \(root)")
            }
        }
    }

    func testBroadcastBytesAndGatherBytes() throws {
        for p in 1...4 {
            let root = p - 1
            let results = try InProcessGroup(size: p, timeoutSeconds: 60).run { comm -> ([UInt8], [[UInt8]]) in
                let message: [UInt8]? = comm.rank == root ? Array("hello from \(root)".utf8) : nil
                let got = try comm.broadcastBytes(message, root: root)
                let gathered = try comm.gatherBytes(Array(repeating: UInt8(comm.rank), count: comm.rank), root: 0)
                return (got, gathered)
            }
            for (r, result) in results.enumerated() {
                XCTAssertEqual(result.0, Array("hello from \(root)".utf8))
                XCTAssertEqual(result.1, r == 0 ? (0..<p).map { Array(repeating: UInt8($0), count: $0) } : [])
            }
        }
    }

    func testAllReduceMaxAndBarrier() throws {
        for p in 1...4 {
            let arrived = LockedCounter()
            let results = try InProcessGroup(size: p, timeoutSeconds: 60).run { comm -> (Double, Int) in
                let max = try comm.allReduceMax(Double(comm.rank == 1 ? 7 : -comm.rank))
                arrived.increment()
                try comm.barrier()
                return (max, arrived.value)   // after the barrier every rank has incremented
            }
            XCTAssertEqual(results.map(\.0), Array(repeating: p > 1 ? 7 : 0, count: p))
            XCTAssertEqual(results.map(\.1), Array(repeating: p, count: p))
        }
    }

    func testThrowingRankMakesOthersThrowPeerFailedInsteadOfHanging() {
        struct Injected: Error {}
        // Timing: rank 1 fails after 0.05 s, the group's timeout is 20 s; the 5 s bound leaves
        // seconds of scheduling slack on a loaded machine and still tells "gave up at once" from
        // "waited for the timeout".
        let start = Date()
        let results = InProcessGroup(size: 3, timeoutSeconds: 20).runEach { comm -> Int in
            if comm.rank == 1 { Thread.sleep(forTimeInterval: 0.05); throw Injected() }
            try comm.barrier()
            return 0
        }
        XCTAssertLessThan(Date().timeIntervalSince(start), 5, "ranks must give up promptly, not wait for the timeout")
        XCTAssertTrue((try? results[1].get()) == nil)
        for r in [0, 2] {
            guard case .failure(CommunicatorError.peerFailed(rank: 1, operation: "barrier", _)) = results[r] else {
                return XCTFail("rank \(r): expected peerFailed(rank: 1), got \(results[r])")
            }
        }
    }

    func testRankThatSkipsACollectiveMakesOthersFail() {
        let results = InProcessGroup(size: 4, timeoutSeconds: 20).runEach { comm -> Int in
            if comm.rank == 2 { return 0 }   // skips the allReduceMax: a real MPI job would hang
            return Int(try comm.allReduceMax(1))
        }
        XCTAssertEqual(try results[2].get(), 0)
        for r in [0, 1, 3] {
            guard case .failure(CommunicatorError.peerFailed(rank: 2, _, _)) = results[r] else {
                return XCTFail("rank \(r): expected peerFailed(rank: 2), got \(results[r])")
            }
        }
    }

    func testRunRethrowsTheRootCauseAndGroupIsReusable() throws {
        struct Injected: Error, Equatable { let rank: Int }
        let group = InProcessGroup(size: 3, timeoutSeconds: 20)
        XCTAssertThrowsError(try group.run { comm -> Int in
            try comm.barrier()
            if comm.rank == 2 { throw Injected(rank: 2) }
            try comm.barrier()
            return 1
        }) { XCTAssertEqual($0 as? Injected, Injected(rank: 2)) }
        XCTAssertEqual(try group.run { comm in Int(try comm.allReduceMax(Double(comm.rank))) }, [2, 2, 2])
    }

    func testMismatchedCollectivesAndArgumentsFailOnEveryRank() {
        let group = InProcessGroup(size: 2, timeoutSeconds: 20)
        let mixed = group.runEach { comm -> Void in
            if comm.rank == 0 { try comm.barrier() } else { _ = try comm.allReduceMax(0) }
        }
        for result in mixed {
            guard case .failure(CommunicatorError.collectiveMismatch) = result else { return XCTFail("got \(result)") }
        }
        let roots = group.runEach { comm -> [UInt8] in try comm.broadcastBytes([1], root: comm.rank) }
        for result in roots {
            guard case .failure(CommunicatorError.collectiveMismatch) = result else { return XCTFail("got \(result)") }
        }
        let sizes = group.runEach { comm -> Void in
            let send: [Float] = [1, 2]
            var receive = [Float](repeating: 0, count: comm.rank == 1 ? 3 : 4)
            try send.withUnsafeBufferPointer { s in try receive.withUnsafeMutableBufferPointer { try comm.allGather(s, into: $0) } }
        }
        guard case .failure(CommunicatorError.sizeMismatch) = sizes[1],
              case .failure(CommunicatorError.peerFailed(rank: 1, operation: "allGather", _)) = sizes[0] else {
            return XCTFail("expected sizeMismatch on rank 1 and peerFailed on rank 0, got \(sizes)")
        }
    }

    func testRanksThatCatchAnAgreedErrorStayInStep() throws {
        let maxima = try InProcessGroup(size: 3, timeoutSeconds: 20).run { comm -> [Double] in
            var out: [Double] = []
            for step in 0..<200 {
                do { _ = try comm.broadcastBytes([1], root: step % 2 == 0 ? comm.rank : 0) } catch CommunicatorError.collectiveMismatch {}
                out.append(try comm.allReduceMax(Double(step * 10 + comm.rank)))
            }
            return out
        }
        XCTAssertEqual(maxima, Array(repeating: (0..<200).map { Double($0 * 10 + 2) }, count: 3))
    }

    func testWaitIsBoundedByTimeout() {
        let release = DispatchSemaphore(value: 0)
        // Timing: rank 0's barrier must end by the group's 0.3 s timeout; rank 1 stays away up to
        // 10 s (released as soon as rank 0 returns). Under 5 s proves the timeout fired, with over
        // 4 s of scheduling slack on a loaded machine.
        let start = Date()
        let results = InProcessGroup(size: 2, timeoutSeconds: 0.3).runEach { comm -> Void in
            if comm.rank == 1 { _ = release.wait(timeout: .now() + 10); return }
            defer { release.signal() }
            try comm.barrier()
        }
        guard case .failure(CommunicatorError.timedOut(operation: "barrier", rank: 0, _)) = results[0] else {
            return XCTFail("expected timedOut on rank 0, got \(results[0])")
        }
        XCTAssertLessThan(Date().timeIntervalSince(start), 5)
    }

    func testThousandCollectivesReuseBuffersWithoutStaleData() throws {
        let p = 3
        let bad = try InProcessGroup(size: p, timeoutSeconds: 60).run { comm -> Int in
            var send = [Float](repeating: 0, count: 5), receive = [Float](repeating: 0, count: 5 * p)
            var wrong = 0
            for step in 0..<1000 {
                let n = 1 + step % 5   // sizes change, buffers stay
                for j in 0..<n { send[j] = Float(step * 1000 + comm.rank * 10 + j) }
                try send.withUnsafeBufferPointer { s in
                    try receive.withUnsafeMutableBufferPointer {
                        try comm.allGather(UnsafeBufferPointer(rebasing: s[0..<n]), into: UnsafeMutableBufferPointer(rebasing: $0[0..<p * n]))
                    }
                }
                for q in 0..<p { for j in 0..<n where receive[q * n + j] != Float(step * 1000 + q * 10 + j) { wrong += 1 } }
            }
            return wrong
        }
        XCTAssertEqual(bad, [0, 0, 0])
    }

    func testSingleRankCommunicatorChecksArguments() throws {
        let comm = SingleRankCommunicator()
        var receive = [Float](repeating: 0, count: 2)
        let send: [Float] = [3, 4]
        try send.withUnsafeBufferPointer { s in try receive.withUnsafeMutableBufferPointer { try comm.allGather(s, into: $0) } }
        XCTAssertEqual(receive, send)
        XCTAssertThrowsError(try comm.broadcastBytes(nil, root: 0))
        XCTAssertThrowsError(try comm.gatherBytes([], root: 1)) {
            guard case CommunicatorError.invalidRoot(root: 1, size: 1) = $0 else { return XCTFail("got \($0)") }
        }
        var short = [Float](repeating: 0, count: 1)
        XCTAssertThrowsError(try send.withUnsafeBufferPointer { s in try short.withUnsafeMutableBufferPointer { try comm.allGather(s, into: $0) } })
    }

    func testErrorDescriptionsAreOneLine() {
        let errors: [CommunicatorError] = [
            .mpiCallFailed(call: "MPI_Allgather", code: 15, message: "MPI_ERR_TRUNCATE: message truncated"),
            .countOverflow(operation: "MPI_Allgather send count", count: 1 << 33),
            .peerFailed(rank: 1, operation: "barrier", reason: "boom"),
        ]
        for error in errors { XCTAssertFalse(error.description.contains("\n")) }
        XCTAssertTrue(errors[1].description.contains("8589934592"))
    }

    func testMPICountsThrowInsteadOfTruncating() throws {
        XCTAssertEqual(try MPICount.checked(Int(Int32.max), "x"), Int32.max)
        XCTAssertThrowsError(try MPICount.checked(Int(Int32.max) + 1, "MPI_Allgather send count")) {
            guard case CommunicatorError.countOverflow(operation: "MPI_Allgather send count", count: 2_147_483_648) = $0 else {
                return XCTFail("got \($0)")
            }
        }
        let packed = try MPICount.packed([3, 0, 5], "MPI_Allgatherv")
        XCTAssertEqual(packed.counts, [3, 0, 5])
        XCTAssertEqual(packed.displacements, [0, 3, 3])
        // Each piece fits Int32 but the packed total (and the last displacement) does not.
        let half = 1 << 30
        XCTAssertThrowsError(try MPICount.packed([half, half, 1], "MPI_Allgatherv")) {
            guard case CommunicatorError.countOverflow = $0 else { return XCTFail("got \($0)") }
        }
    }

    func testMPIRunDetectionFollowsEnvironment() {
        XCTAssertEqual(MPICommunicator.isUnderMPIRun, ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_SIZE"] != nil)
    }
}

/// A thread-safe counter for barrier ordering checks.
final class LockedCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func increment() { lock.lock(); count += 1; lock.unlock() }
    var value: Int { lock.lock(); defer { lock.unlock() }; return count }
}
