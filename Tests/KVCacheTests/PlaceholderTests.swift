import XCTest

final class KVCacheTestsPlaceholder: XCTestCase {
    func testModuleBuilds() {}
}
