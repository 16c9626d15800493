import XCTest
@testable import ChatTemplate

final class EngineTests: XCTestCase {
}
