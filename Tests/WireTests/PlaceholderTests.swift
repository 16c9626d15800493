import XCTest

final class WireTestsPlaceholder: XCTestCase {
    func testModuleBuilds() {}
}
