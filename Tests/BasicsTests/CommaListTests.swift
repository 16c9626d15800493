import Basics
import XCTest

final class CommaListTests: XCTestCase {
    func testItemsAreTrimmedAndEmptyItemsSkipped() {
        XCTAssertEqual(CommaList.items(" 3, 17 ,42"), ["3", "17", "42"])
        XCTAssertEqual(CommaList.items("1,,2,"), ["1", "2"])
        XCTAssertEqual(CommaList.items(""), [])
        XCTAssertEqual(CommaList.items(" , "), [])
        XCTAssertEqual(CommaList.items("127.0.0.1:1, host:2"), ["127.0.0.1:1", "host:2"])
    }

    func testIntegersRespectTheirMinimumAndType() throws {
        XCTAssertEqual(try CommaList.integers("0, 7,65535", option: "--ids", atLeast: UInt32(0), expected: "a token id"), [0, 7, 65535])
        XCTAssertEqual(try CommaList.integers("512,1024", option: "--tokens", atLeast: 1, expected: "a positive integer"), [512, 1024])
        XCTAssertThrowsError(try CommaList.integers("4,0", option: "--tokens", atLeast: 1, expected: "a positive integer")) {
            XCTAssertEqual($0 as? CommaListError, CommaListError(option: "--tokens", item: "0", expected: "a positive integer"))
            XCTAssertEqual(String(describing: $0), "--tokens: '0' is not a positive integer")
        }
        XCTAssertThrowsError(try CommaList.integers("3,-1", option: "--ids", atLeast: Int32(0), expected: "a token id")) {
            XCTAssertEqual(($0 as? CommaListError)?.item, "-1")
        }
        XCTAssertThrowsError(try CommaList.integers("3,x", option: "--ids", atLeast: Int32(0), expected: "a token id"))
        XCTAssertThrowsError(try CommaList.integers("4294967296", option: "--ids", atLeast: UInt32(0), expected: "a token id"), "overflow is rejected")
    }

    func testParseHandsEachItemToTheConverter() throws {
        let ports = try CommaList.parse("a:1, b:2", option: "--prefill", expected: "host:port") { item -> Int? in
            item.split(separator: ":").last.flatMap { Int($0) }
        }
        XCTAssertEqual(ports, [1, 2])
    }
}
