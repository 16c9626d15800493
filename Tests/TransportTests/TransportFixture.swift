import Foundation
import Transport
import XCTest

/// A started server on 127.0.0.1 (system-chosen port) plus a channel to it; `tearDown` shuts both
/// down and checks every call and completion queue object was destroyed.
class TransportTestCase: XCTestCase {
    var server: TransportServer!
    var channel: TransportChannel!

    /// Registers handlers with `configure`, starts the server, opens a channel.
    func startServer(maxMessageBytes: Int = 64 << 20, clientMaxMessageBytes: Int = 64 << 20,
                     _ configure: (TransportServer) -> Void) throws {
        server = TransportServer(port: 0, maxMessageBytes: maxMessageBytes)
        configure(server)
        try server.start()
        channel = TransportChannel(target: "127.0.0.1:\(server.port)", maxMessageBytes: clientMaxMessageBytes)
    }

    override func tearDown() {
        channel?.close()
        channel = nil
        server?.shutdown(gracePeriod: 2)
        server = nil
        XCTAssertTrue(waitUntil(seconds: 10) { TransportDiagnostics.liveCalls == 0 && TransportDiagnostics.liveQueues == 0 },
                      "leaked gRPC objects: \(TransportDiagnostics.liveCalls) calls, \(TransportDiagnostics.liveQueues) queues")
        super.tearDown()
    }

    /// Polls `condition` every 10 ms for at most `seconds`. Callers wait for events that take
    /// milliseconds and give 5-10 s: the slack a loaded 2-core machine needs, not a speed claim.
    func waitUntil(seconds: Double, _ condition: () -> Bool) -> Bool {
        let end = Date(timeIntervalSinceNow: seconds)
        while Date() < end {
            if condition() { return true }
            usleep(10_000)
        }
        return condition()
    }

    func assertStatus(_ expected: StatusCode, file: StaticString = #filePath, line: UInt = #line, _ body: () throws -> Void) {
        XCTAssertThrowsError(try body(), file: file, line: line) { error in
            guard case let TransportError.status(code, _) = error else {
                return XCTFail("expected status \(expected), got \(error)", file: file, line: line)
            }
            XCTAssertEqual(code, expected, "\(error)", file: file, line: line)
        }
    }
}

/// A flag set from a handler thread and read by the test thread.
final class AtomicFlag {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool { lock.lock(); defer { lock.unlock() }; return value }
    func set() { lock.lock(); value = true; lock.unlock() }
}
