import XCTest

final class DeepSeekModelTestsPlaceholder: XCTestCase {
    func testModuleBuilds() {}
}
