@testable import Gateway
import XCTest

/// The decode choice as the issue states it: among healthy instances (Health/Watch SERVING and the
/// last Stats call answered), the least outstanding work (prompt + max new tokens in flight, moved
/// forward from the instance's own last report); ties go to fewer requests in flight, then to the
/// order given. No daemon runs: the pool's instances get the reports their watchers would record.
final class RoutingTests: XCTestCase {
    private func pool(_ n: Int) -> DecodePool {
        let pool = DecodePool(targets: (1...n).map { "127.0.0.1:\(40000 + $0)" })
        for instance in pool.instances {
            instance.recordWatched(serving: true)
            instance.recordStats(usedTokens: 0)
        }
        return pool
    }

    func testLeastOutstandingWorkAmongHealthy() {
        let p = pool(3)
        let (a, b, c) = (p.instances[0], p.instances[1], p.instances[2])
        XCTAssertTrue(p.pick() === a, "all idle: the first given")
        a.begin(tokens: 100)
        XCTAssertTrue(p.pick() === b)
        b.begin(tokens: 50)
        XCTAssertTrue(p.pick() === c)
        c.begin(tokens: 80)
        XCTAssertTrue(p.pick() === b, "50 < 80 < 100")
        b.begin(tokens: 60)   // b: 110
        XCTAssertTrue(p.pick() === c, "80 < 100 < 110")
        c.end(tokens: 80)
        XCTAssertTrue(p.pick() === c, "c idle again")
        XCTAssertTrue(p.pick(excluding: [c.target]) === a, "a retry goes elsewhere: the least loaded of the rest")
    }

    func testUnhealthyInstancesAreSkipped() {
        let p = pool(3)
        let (a, b, c) = (p.instances[0], p.instances[1], p.instances[2])
        b.begin(tokens: 10); c.begin(tokens: 20)
        a.recordWatched(serving: false)
        XCTAssertTrue(p.pick() === b, "a is NOT_SERVING")
        b.markUnreachable()
        XCTAssertTrue(p.pick() === c, "b failed a call")
        XCTAssertEqual(p.healthyCount, 1)
        c.recordWatched(serving: false)
        XCTAssertNil(p.pick(), "no healthy instance")
        XCTAssertEqual(p.healthyCount, 0)
        b.recordStats(usedTokens: 0)
        XCTAssertTrue(p.pick() === b, "a Stats answer brings b back")
        a.recordWatched(serving: true)
        XCTAssertTrue(p.pick() === a, "serving again, and idle")
    }

    func testInstancesOwnReportsCountOtherClientsWork() {
        let p = pool(2)
        let (a, b) = (p.instances[0], p.instances[1])
        a.recordStats(usedTokens: 1000)   // another gateway's requests hold 1000 tokens on a
        b.begin(tokens: 300)
        XCTAssertTrue(p.pick() === b, "300 < 1000")
        b.recordStats(usedTokens: 2000)   // b's report: 2000 reserved, our 300 among them
        XCTAssertEqual(b.load, 2000)
        XCTAssertTrue(p.pick() === a)
        b.end(tokens: 300)                // our request there ended since the report
        XCTAssertEqual(b.load, 1700)
        a.begin(tokens: 800)
        XCTAssertEqual(a.load, 1800)
        XCTAssertTrue(p.pick() === b, "1700 < 1800")
    }

    func testTiesGoToFewerRequestsInFlight() {
        let p = pool(2)
        let (a, b) = (p.instances[0], p.instances[1])
        a.begin(tokens: 30); a.begin(tokens: 30)
        b.begin(tokens: 60)
        XCTAssertEqual(a.load, b.load)
        XCTAssertTrue(p.pick() === b, "equal work: one request in flight beats two")
    }
}
