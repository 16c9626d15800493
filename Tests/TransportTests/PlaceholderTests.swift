import XCTest

final class TransportTestsPlaceholder: XCTestCase {
    func testModuleBuilds() {}
}
