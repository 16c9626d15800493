import Foundation
import Transport
import Wire
import XCTest

/// Push-mode server streaming (`serverStreaming(…, onReady:)`): every message in order, then the end
/// exactly once; the server's error or the client's cancel as the end; `onReady` never overlaps itself.
final class PushStreamTests: TransportTestCase {
    /// Sends `count` messages holding their index (4 bytes, little-endian), then `failWith` or OK.
    func registerCounting(_ server: TransportServer, count: Int, failWith: StatusCode? = nil, pause: useconds_t = 0) {
        server.registerServerStreaming("/test.Push/Count") { _, _, writer in
            for i in 0..<count {
                try writer.send(withUnsafeBytes(of: UInt32(i).littleEndian) { [UInt8]($0) })
                if pause > 0 { usleep(pause) }
            }
            if let failWith { throw TransportError.status(failWith, "stopped after \(count)") }
        }
    }

    /// What a push-mode consumer saw.
    final class Collector: @unchecked Sendable {
        private let lock = NSLock()
        private(set) var indices: [UInt32] = []
        private(set) var ends: [Error?] = []
        private(set) var overlapped = false
        private var inside = false
        var stream: ResponseStream?

        /// `onReady`: drains what is there; `stopAfter` cancels the call once that many arrived.
        func drain(stopAfter: Int? = nil) {
            lock.withLock { if inside { overlapped = true }; inside = true }
            defer { lock.withLock { inside = false } }
            guard let stream = lock.withLock({ stream }) else { return }
            do {
                while true {
                    switch try stream.poll() {
                    case .pending: return
                    case .end: lock.withLock { ends.append(nil) }; return
                    case .message(let message):
                        let index = message.bytes().withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }
                        let count = lock.withLock { indices.append(UInt32(littleEndian: index)); return indices.count }
                        if count == stopAfter { stream.cancel() }
                    }
                }
            } catch {
                lock.withLock { ends.append(error) }
            }
        }

        var snapshot: (indices: [UInt32], ends: [Error?], overlapped: Bool) { lock.withLock { (indices, ends, overlapped) } }
    }

    /// Starts a push-mode call; the collector holds its stream before the first `onReady` can run.
    func start(_ collector: Collector, stopAfter: Int? = nil) throws {
        let lock = NSLock()
        lock.lock()
        let stream = try channel.serverStreaming(method: "/test.Push/Count", request: StatsRequest(),
                                                 deadline: .after(seconds: 30)) {
            lock.withLock {}   // the stream is recorded below first
            collector.drain(stopAfter: stopAfter)
        }
        collector.stream = stream
        lock.unlock()
    }

    func testEveryMessageInOrderThenOneEnd() throws {
        try startServer { self.registerCounting($0, count: 500) }
        let collector = Collector()
        try start(collector)
        XCTAssertTrue(waitUntil(seconds: 20) { !collector.snapshot.ends.isEmpty })
        usleep(100_000)   // a second end would come by now
        let seen = collector.snapshot
        XCTAssertEqual(seen.indices, (0..<500).map(UInt32.init))
        XCTAssertEqual(seen.ends.count, 1)
        if case let error?? = seen.ends.first { XCTFail("ended with \(error)") }
        XCTAssertFalse(seen.overlapped)
    }

    func testServerErrorEndsAfterItsMessages() throws {
        try startServer { self.registerCounting($0, count: 5, failWith: .aborted) }
        let collector = Collector()
        try start(collector)
        XCTAssertTrue(waitUntil(seconds: 20) { !collector.snapshot.ends.isEmpty })
        let seen = collector.snapshot
        XCTAssertEqual(seen.indices, [0, 1, 2, 3, 4])
        XCTAssertEqual(seen.ends.count, 1)
        XCTAssertEqual(seen.ends.first as? TransportError, .status(.aborted, "stopped after 5"))
    }

    func testCancelFromOnReadyEndsWithCancelled() throws {
        try startServer { self.registerCounting($0, count: 10_000, pause: 200) }
        let collector = Collector()
        try start(collector, stopAfter: 10)
        XCTAssertTrue(waitUntil(seconds: 20) { !collector.snapshot.ends.isEmpty })
        let seen = collector.snapshot
        XCTAssertGreaterThanOrEqual(seen.indices.count, 10)
        XCTAssertLessThan(seen.indices.count, 10_000)
        XCTAssertEqual(Array(seen.indices.prefix(10)), (0..<10).map(UInt32.init))
        guard case let TransportError.status(code, _)? = seen.ends.first as? TransportError else {
            return XCTFail("expected a CANCELLED status, got \(String(describing: seen.ends.first))")
        }
        XCTAssertEqual(code, .cancelled)
    }
}
