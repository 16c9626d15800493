import XCTest

final class KernelsTestsPlaceholder: XCTestCase {
    func testModuleBuilds() {}
}
