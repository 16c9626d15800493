@testable import PrefillService
import XCTest

/// Rank 0's batch broadcast: prompts and, per prompt, the prompt logprobs' k it asks for.
final class BatchMessageTests: XCTestCase {
    func testRoundTripAndCorruption() throws {
        let prompts: [[Int32]] = [[1, 2, 3], [7], [9, 9]]
        for message in [BatchMessage.batch(prompts, promptLogprobs: nil), .batch(prompts, promptLogprobs: [nil, 0, 20]),
                        .batch([], promptLogprobs: nil), .idle, .stop] {
            XCTAssertEqual(try BatchMessage.decode(message.encode()), message)
        }
        let bytes = BatchMessage.batch(prompts, promptLogprobs: [nil, 0, 20]).encode()
        for cut in [4, bytes.count - 4, bytes.count - 8] {   // a prompt cut short, a k missing, two missing
            XCTAssertThrowsError(try BatchMessage.decode(Array(bytes.prefix(cut))), "cut at \(cut)")
        }
        XCTAssertThrowsError(try BatchMessage.decode(bytes + [0, 0, 0, 0]), "a word too many")
    }
}
