import Foundation
import Transport
import Wire
import XCTest

/// grpc.health.v1.Health: Check follows the board; Watch streams the current status and each change,
/// SERVICE_UNKNOWN for an unknown name, and ends with NOT_SERVING when the server shuts down.
final class HealthWatchTests: TransportTestCase {
    private func nextStatus(_ stream: ResponseStream) throws -> HealthCheckResponse.ServingStatus? {
        guard let bytes = try stream.next() else { return nil }
        return try bytes.withUnsafeBytes { try HealthCheckResponse(decoding: $0) }.status
    }

    func testCheckFollowsTheBoard() throws {
        var board: HealthStatusBoard!
        try startServer { board = $0.registerHealthService(services: [MethodPath.decodeService], initial: .notServing) }
        XCTAssertEqual(try channel.checkHealth(), .notServing)
        board.set(.serving)
        XCTAssertEqual(try channel.checkHealth(), .serving)
        XCTAssertEqual(try channel.checkHealth(service: MethodPath.decodeService), .serving)
        board.set(.notServing, service: MethodPath.decodeService)
        XCTAssertEqual(try channel.checkHealth(service: MethodPath.decodeService), .notServing)
        XCTAssertEqual(try channel.checkHealth(), .serving, "only the named service changed")
        board.set(.serving, service: "no.such.Service")   // not served: ignored, not added
        assertStatus(.notFound) { _ = try channel.checkHealth(service: "no.such.Service") }
    }

    func testWatchStreamsEachChange() throws {
        var board: HealthStatusBoard!
        try startServer { board = $0.registerHealthService(services: [MethodPath.decodeService], initial: .notServing) }
        let stream = try channel.watchHealth(service: MethodPath.decodeService, deadline: .after(seconds: 20))
        XCTAssertEqual(try nextStatus(stream), .notServing, "the current status comes first")
        board.set(.serving)
        XCTAssertEqual(try nextStatus(stream), .serving)
        board.set(.serving)                                // no change, no message
        board.set(.notServing, service: MethodPath.decodeService)
        XCTAssertEqual(try nextStatus(stream), .notServing)
        stream.cancel()
        assertStatus(.cancelled) { _ = try stream.next() }
    }

    func testWatchOfAnUnknownServiceSaysSo() throws {
        try startServer { $0.registerHealthService(services: [MethodPath.prefillService]) }
        let stream = try channel.watchHealth(service: "no.such.Service", deadline: .after(seconds: 20))
        XCTAssertEqual(try nextStatus(stream), .serviceUnknown)
        stream.cancel()
    }

    func testShutdownEndsWatchersPromptly() throws {
        try startServer { $0.registerHealthService(services: [MethodPath.prefillService]) }
        let stream = try channel.watchHealth(deadline: .after(seconds: 30))
        XCTAssertEqual(try nextStatus(stream), .serving)
        let start = Date()
        server.shutdown(gracePeriod: 10)
        // A watcher must not hold the drain for the whole grace period.
        XCTAssertLessThan(Date().timeIntervalSince(start), 5)
        XCTAssertEqual(try nextStatus(stream), .notServing)
        XCTAssertNil(try nextStatus(stream), "the stream ends OK after NOT_SERVING")
    }
}
