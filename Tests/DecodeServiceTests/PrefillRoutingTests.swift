@testable import DecodeService
import Logging
import XCTest

/// Which prefill daemon a prompt goes to: the least cost, in-flight tokens plus the prompt's own
/// less its blocks sent there before. No daemon is called (none is ready: the choice is among all).
final class PrefillRoutingTests: XCTestCase {
    func makePool() -> PrefillPool {
        PrefillPool(targets: ["127.0.0.1:9", "127.0.0.1:10"], fingerprint: "fp", logger: Logger(label: "routing-test"),
                    onReadiness: { _ in })
    }

    func prompt(_ n: Int, salt: UInt32) -> [UInt32] { (0..<UInt32(n)).map { $0 &* 31 &+ salt } }

    func testBlockKeysChainThePrefix() {
        let a = prompt(200, salt: 1)
        XCTAssertEqual(PrefixBlocks.keys(a).count, 3, "full 64-token blocks before the last token")
        XCTAssertEqual(PrefixBlocks.keys(Array(a.prefix(129))).count, 2)
        XCTAssertEqual(PrefixBlocks.keys(Array(a.prefix(128))).count, 1, "the block holding the last token is not reused")
        var b = a
        b[70] += 1
        XCTAssertEqual(PrefixBlocks.keys(b)[0], PrefixBlocks.keys(a)[0])
        XCTAssertNotEqual(PrefixBlocks.keys(b)[1], PrefixBlocks.keys(a)[1])
        XCTAssertNotEqual(PrefixBlocks.keys(b)[2], PrefixBlocks.keys(a)[2], "a key depends on every block before it")
    }

    func testTurnsFollowTheirPrefixUnlessThatPrefillIsBusierThanTheySave() {
        let pool = makePool()
        let first = prompt(300, salt: 1)
        let home = pool.acquire(prompt: first)
        pool.release(home, tokens: first.count)
        for _ in 0..<3 {   // ties would take turns; the cached blocks keep it home
            let again = pool.acquire(prompt: first)
            XCTAssertTrue(again === home, "a repeat goes where its blocks went")
            pool.release(again, tokens: first.count)
        }
        let turn = first + prompt(1000, salt: 2)
        let held = pool.acquire(prompt: turn)
        XCTAssertTrue(held === home, "the next turn too, while both are idle")
        let other = pool.acquire(prompt: prompt(300, salt: 3))
        XCTAssertFalse(other === home, "a new prompt goes to the idle one")
        pool.release(other, tokens: 300)
        // Home holds 1300 tokens in flight: the first prompt's 256 cached tokens save less than that.
        let busy = pool.acquire(prompt: first)
        XCTAssertFalse(busy === home, "a busier prefill loses a repeat whose cached blocks save less than its queue")
        pool.release(busy, tokens: first.count)
        pool.release(held, tokens: turn.count)
    }
}
