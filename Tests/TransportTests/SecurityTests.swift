import Foundation
import TestSupport
import Transport
import XCTest

/// The shared token on the server (refused before any handler runs, health open) and TLS / mutual
/// TLS with the test CA of deploy/tls/make-test-ca.sh.
final class SecurityTests: TransportTestCase {
    private let handled = Counter()

    private func startEcho(security: ServerSecurity) throws {
        server = TransportServer(port: 0, security: security)
        server.registerUnary("/t.S/Echo") { [handled] _, bytes in
            handled.add()
            return bytes
        }
        server.registerHealthService(services: [])
        try server.start()
    }

    private func channel(_ security: ClientSecurity) -> TransportChannel {
        TransportChannel(target: "127.0.0.1:\(server.port)", security: security)
    }

    func testTokenIsCheckedBeforeTheHandlerAndHealthStaysOpen() throws {
        let token = try AuthToken("s3cret-token\n")
        try startEcho(security: ServerSecurity(token: token))
        assertStatus(.unauthenticated) { _ = try self.channel(.plaintext).unary(method: "/t.S/Echo", request: [1, 2]) }
        assertStatus(.permissionDenied) {
            _ = try self.channel(ClientSecurity(token: try AuthToken("s3cret-tokeN"))).unary(method: "/t.S/Echo", request: [1, 2])
        }
        assertStatus(.permissionDenied) {   // a prefix of the secret is not the secret
            _ = try self.channel(ClientSecurity(token: try AuthToken("s3cret"))).unary(method: "/t.S/Echo", request: [1, 2])
        }
        assertStatus(.unauthenticated) {    // another scheme is no bearer token
            _ = try self.channel(.plaintext).unary(method: "/t.S/Echo", request: [1], metadata: ["authorization": "Basic s3cret-token"])
        }
        XCTAssertEqual(handled.value, 0, "a refused call reached the handler")
        XCTAssertEqual(server.refusedCalls, 4)
        XCTAssertEqual(try channel(.plaintext).checkHealth(), .serving)
        XCTAssertEqual(try channel(ClientSecurity(token: token)).unary(method: "/t.S/Echo", request: [7, 8, 9]), [7, 8, 9])
        XCTAssertEqual(handled.value, 1)
    }

    func testTokenVerdicts() throws {
        let token = try AuthToken("  abc.DEF-123  ")
        XCTAssertEqual(token.check(authorization: nil), .missing)
        XCTAssertEqual(token.check(authorization: "abc.DEF-123"), .missing)
        XCTAssertEqual(token.check(authorization: "Bearer abc.DEF-123"), .accepted)
        XCTAssertEqual(token.check(authorization: "bearer abc.DEF-123"), .accepted)
        XCTAssertEqual(token.check(authorization: "Bearer abc.DEF-12"), .wrong)
        XCTAssertEqual(token.check(authorization: "Bearer abc.DEF-1234"), .wrong)
        XCTAssertEqual(token.check(authorization: "Bearer "), .wrong)
        XCTAssertEqual(token.headerValue, "Bearer abc.DEF-123")
        XCTAssertFalse("\(token)".contains("abc"), "the secret must not be printable")
        XCTAssertThrowsError(try AuthToken(" \n"))
        XCTAssertThrowsError(try AuthToken("two words"))
    }

    func testOptionCombinationsThatCannotWork() {
        XCTAssertThrowsError(try ServerSecurity.load(certFile: "c.pem", keyFile: nil, clientCAFile: nil, tokenFile: nil)) {
            XCTAssertEqual($0 as? SecurityOptionError, .needs("--tls-cert", "--tls-key"))
        }
        XCTAssertThrowsError(try ServerSecurity.load(certFile: nil, keyFile: nil, clientCAFile: "ca.pem", tokenFile: nil)) {
            XCTAssertEqual($0 as? SecurityOptionError, .needs("--tls-client-ca", "--tls-cert and --tls-key"))
        }
        XCTAssertThrowsError(try ClientSecurity.load(prefix: "--prefill-tls", caFile: nil, certFile: "c", keyFile: "k", tokenFile: nil)) {
            XCTAssertEqual($0 as? SecurityOptionError, .needs("--prefill-tls-cert", "--prefill-tls-ca"))
        }
        XCTAssertThrowsError(try ClientSecurity.load(prefix: "--tls", caFile: "/nonexistent/ca.pem", certFile: nil, keyFile: nil, tokenFile: nil)) {
            XCTAssertEqual($0 as? SecurityOptionError, .unreadable("--tls-ca", "/nonexistent/ca.pem"))
        }
        XCTAssertTrue(ListenAddress.isLoopback("127.0.0.1") && ListenAddress.isLoopback("127.3.2.1") && ListenAddress.isLoopback("localhost")
                      && ListenAddress.isLoopback("::1") && ListenAddress.isLoopback("[::1]"))
        XCTAssertFalse(ListenAddress.isLoopback("0.0.0.0") || ListenAddress.isLoopback("10.0.0.1") || ListenAddress.isLoopback("127.0.0.1.example.com")
                       || ListenAddress.isLoopback("::"))
        XCTAssertNil(ListenAddress.plaintextWarning(host: "127.0.0.1", port: 1, what: "x", remedy: "y"))
        XCTAssertNotNil(ListenAddress.plaintextWarning(host: "0.0.0.0", port: 1, what: "x", remedy: "y"))
    }

    func testMutualTLSWithTheTestCA() throws {
        let pki = try TestPKI.make()
        try startEcho(security: try .load(certFile: pki + "/server.pem", keyFile: pki + "/server.key",
                                          clientCAFile: pki + "/ca.pem", tokenFile: nil))
        func client(ca: String, cert: String?) throws -> TransportChannel {
            channel(try .load(prefix: "--tls", caFile: pki + "/\(ca).pem", certFile: cert.map { pki + "/\($0).pem" },
                              keyFile: cert.map { pki + "/\($0).key" }, tokenFile: nil))
        }
        XCTAssertEqual(try client(ca: "ca", cert: "client").unary(method: "/t.S/Echo", request: [5], deadline: .after(seconds: 10)), [5])
        for (ca, cert) in [("ca", nil), ("ca", "expired-client"), ("ca", "other-client"), ("other-ca", "client")] as [(String, String?)] {
            assertStatus(.unavailable) { _ = try client(ca: ca, cert: cert).unary(method: "/t.S/Echo", request: [5], deadline: .after(seconds: 10)) }
        }
        assertStatus(.unavailable) { _ = try self.channel(.plaintext).unary(method: "/t.S/Echo", request: [5], deadline: .after(seconds: 10)) }
        XCTAssertEqual(handled.value, 1, "a call refused at the handshake reached the handler")
    }

    func testAnUnusableKeyFailsAtStartNamingTLS() throws {
        let pki = try TestPKI.make()
        // The other CA's key does not match server.pem.
        server = TransportServer(port: 0, security: try .load(certFile: pki + "/server.pem", keyFile: pki + "/other-ca.key",
                                                              clientCAFile: nil, tokenFile: nil))
        XCTAssertThrowsError(try server.start()) { XCTAssertTrue("\($0)".contains("TLS"), "\($0)") }
    }
}

/// The test CA and certificates deploy/tls/make-test-ca.sh writes, in a fresh folder of the process's
/// scratch directory. A failure to make them (openssl missing) fails the test: scripts/setup installs it.
enum TestPKI {
    static func make() throws -> String {
        let folder = ProcessScratchDirectory.path("pki-\(UUID().uuidString)")
        _ = try FixtureCommand.run(["bash", "deploy/tls/make-test-ca.sh", folder, "127.0.0.1"])
        return folder
    }
}

/// Calls a handler ran, counted across threads.
final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    var value: Int { lock.lock(); defer { lock.unlock() }; return count }
    func add() { lock.lock(); count += 1; lock.unlock() }
}
