import Foundation
import Transport
import Wire
import XCTest

/// Unary calls: payload sizes, metadata both ways, status codes, unknown methods, health.
final class UnaryCallTests: TransportTestCase {
    func testEchoesEmptyOneByteAndLargePayloads() throws {
        try startServer { $0.registerUnary("/test.Echo/Echo") { _, request in request } }
        XCTAssertEqual(try channel.unary(method: "/test.Echo/Echo", request: []), [])
        XCTAssertEqual(try channel.unary(method: "/test.Echo/Echo", request: [0xA5]), [0xA5])
        let large = (0..<(3 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        XCTAssertEqual(try channel.unary(method: "/test.Echo/Echo", request: large), large)
    }

    func testMetadataTravelsBothWays() throws {
        try startServer { server in
            server.registerServerStreaming("/test.Echo/Meta") { context, _, writer in
                context.responseMetadata.append("x-seen", context.metadata["x-client"] ?? "missing")
                context.trailingMetadata.append("x-trailer", "done")
                try writer.send([1])
            }
        }
        let stream = try channel.serverStreaming(method: "/test.Echo/Meta", request: [], metadata: ["x-client": "hello"])
        XCTAssertEqual(try stream.next(), [1])
        XCTAssertNil(try stream.next())
        XCTAssertEqual(stream.initialMetadata?["x-seen"], "hello")
        XCTAssertEqual(stream.trailingMetadata["x-trailer"], "done")
    }

    func testHandlerStatusReachesClientWithMessage() throws {
        try startServer { server in
            server.registerUnary("/test.Echo/Fail") { _, _ in
                throw TransportError.status(.failedPrecondition, "model fingerprint mismatch: expected a, found b")
            }
        }
        XCTAssertThrowsError(try channel.unary(method: "/test.Echo/Fail", request: [])) { error in
            XCTAssertEqual(error as? TransportError,
                           .status(.failedPrecondition, "model fingerprint mismatch: expected a, found b"))
        }
    }

    func testUnknownMethodIsUnimplemented() throws {
        try startServer { _ in }
        assertStatus(.unimplemented) { _ = try channel.unary(method: "/test.Nope/Nothing", request: [1, 2]) }
    }

    func testHealthCheck() throws {
        try startServer { $0.registerHealthService(services: [MethodPath.prefillService]) }
        XCTAssertEqual(try channel.checkHealth(), .serving)
        XCTAssertEqual(try channel.checkHealth(service: MethodPath.prefillService), .serving)
        assertStatus(.notFound) { _ = try channel.checkHealth(service: "no.such.Service") }
    }

    func testDeadlineExceeded() throws {
        try startServer { server in
            server.registerUnary("/test.Echo/Slow") { context, request in
                while !context.isCancelled { usleep(5_000) }  // bounded by the deadline below
                return request
            }
        }
        // Timing: a 0.3 s deadline, checked against 3 s: slack for a loaded machine, and still far
        // from "never" (the handler only ends when the call is cancelled).
        let start = Date()
        assertStatus(.deadlineExceeded) {
            _ = try channel.unary(method: "/test.Echo/Slow", request: [1], deadline: .after(seconds: 0.3))
        }
        XCTAssertLessThan(Date().timeIntervalSince(start), 3)
    }

    func testServerGoneIsUnavailableQuickly() throws {
        // A port that was just bound and released: nobody listens there.
        let probe = TransportServer(port: 0)
        try probe.start()
        let port = probe.port
        probe.shutdown(gracePeriod: 0)
        let lonely = TransportChannel(target: "127.0.0.1:\(port)")
        // Timing: a refused connection must end the call well before its 10 s deadline; 5 s
        // leaves slack for a loaded machine.
        let start = Date()
        assertStatus(.unavailable) { _ = try lonely.unary(method: "/test.Echo/Echo", request: [1], deadline: .after(seconds: 10)) }
        XCTAssertLessThan(Date().timeIntervalSince(start), 5)
    }

    func testOversizeMessagesAreRefused() throws {
        try startServer(maxMessageBytes: 1 << 20, clientMaxMessageBytes: 1 << 20) { server in
            server.registerUnary("/test.Echo/Echo") { _, request in request }
            server.registerUnary("/test.Echo/Big") { _, _ in [UInt8](repeating: 7, count: 2 << 20) }
        }
        assertStatus(.resourceExhausted) {
            _ = try channel.unary(method: "/test.Echo/Echo", request: [UInt8](repeating: 1, count: 2 << 20))
        }
        assertStatus(.resourceExhausted) { _ = try channel.unary(method: "/test.Echo/Big", request: []) }
        XCTAssertEqual(try channel.unary(method: "/test.Echo/Echo", request: [3]), [3])  // the channel still works
    }

    func testBindFailureIsTyped() throws {
        try startServer { _ in }
        let clash = TransportServer(port: server.port)
        XCTAssertThrowsError(try clash.start()) { error in
            guard case TransportError.bindFailed = error else { return XCTFail("\(error)") }
        }
    }
}

/// The server caps handler threads: calls beyond `maxConcurrentCalls` are refused at once with
/// RESOURCE_EXHAUSTED and nothing runs for them; once a slot frees, calls are served again.
final class ConcurrencyCapTests: TransportTestCase {
    func testCallsBeyondTheCapAreRefused() throws {
        let release = DispatchSemaphore(value: 0)
        let ran = NSLock()
        var handled = 0
        server = TransportServer(port: 0, maxConcurrentCalls: 2)
        server.registerUnary("/test.Echo/Hold") { _, request in
            ran.lock(); handled += 1; ran.unlock()
            _ = release.wait(timeout: .now() + 20)   // bounded: the test signals well before
            return request
        }
        try server.start()
        channel = TransportChannel(target: "127.0.0.1:\(server.port)")
        let group = DispatchGroup()
        let results = ResultBox(count: 2)
        for i in 0..<2 {
            group.enter()
            Thread.detachNewThread { [channel] in
                results.set(i, Result { try channel!.unary(method: "/test.Echo/Hold", request: [UInt8(i)], deadline: .after(seconds: 30)) })
                group.leave()
            }
        }
        XCTAssertTrue(waitUntil(seconds: 10) { self.server.activeCalls == 2 }, "both held calls running")
        assertStatus(.resourceExhausted) { _ = try channel.unary(method: "/test.Echo/Hold", request: [9], deadline: .after(seconds: 10)) }
        ran.lock(); XCTAssertEqual(handled, 2, "the refused call never reached its handler"); ran.unlock()
        release.signal(); release.signal()
        XCTAssertEqual(group.wait(timeout: .now() + 20), .success)
        XCTAssertEqual(try results.get(0)?.get(), [0])
        XCTAssertEqual(try results.get(1)?.get(), [1])
        XCTAssertTrue(waitUntil(seconds: 10) { self.server.activeCalls == 0 })
        release.signal()
        XCTAssertEqual(try channel.unary(method: "/test.Echo/Hold", request: [7], deadline: .after(seconds: 10)), [7],
                       "served again once slots are free")
    }
}

/// Results written by worker threads, read by the test thread.
final class ResultBox: @unchecked Sendable {
    private let lock = NSLock()
    private var values: [Result<[UInt8], Error>?]
    init(count: Int) { values = Array(repeating: nil, count: count) }
    func set(_ i: Int, _ value: Result<[UInt8], Error>) { lock.lock(); values[i] = value; lock.unlock() }
    func get(_ i: Int) -> Result<[UInt8], Error>? { lock.lock(); defer { lock.unlock() }; return values[i] }
}
