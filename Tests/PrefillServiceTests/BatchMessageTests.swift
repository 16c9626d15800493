@testable import PrefillService
import XCTest

/// Rank 0's batch broadcast: prompts, per prompt the prompt logprobs' k it asks for and its pages
/// from the prefix cache, and the prefix-cache evictions around them.
final class BatchMessageTests: XCTestCase {
    func testRoundTripAndCorruption() throws {
        let prompts: [[Int32]] = [[1, 2, 3], [7], [9, 9]]
        let full = PrefillBatch(prompts: prompts, promptLogprobs: [nil, 0, 20], cachedPages: [2, 0, 1],
                                evictions: [[5, 4], [], [9], [1, 2, 3]], salts: ["", "tenant-é", "abcd"])
        for message in [BatchMessage.batch(PrefillBatch(prompts: prompts)), .batch(full),
                        .batch(PrefillBatch(prompts: [])), .idle, .stop] {
            XCTAssertEqual(try BatchMessage.decode(message.encode()), message)
        }
        let bytes = BatchMessage.batch(full).encode()
        for cut in [4, 8, bytes.count - 4, bytes.count - 16] {   // a prompt cut short, an eviction missing, a list cut
            XCTAssertThrowsError(try BatchMessage.decode(Array(bytes.prefix(cut))), "cut at \(cut)")
        }
        XCTAssertThrowsError(try BatchMessage.decode(bytes + [0, 0, 0, 0]), "a word too many")
    }
}
