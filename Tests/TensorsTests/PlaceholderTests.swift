import XCTest

final class TensorsTestsPlaceholder: XCTestCase {
    func testModuleBuilds() {}
}
