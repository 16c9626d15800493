import XCTest

final class ContextParallelTestsPlaceholder: XCTestCase {
    func testModuleBuilds() {}
}
