import Basics
import DeepSeekModel
import Foundation
import XCTest

/// The one folder rule for built-in models covers every one of them, and the folder the writer
/// publishes is the one readers (pd-gateway) look up.
final class BuiltinModelFolderTests: XCTestCase {
    func testNamesAndPathsAgreeWithTheWriter() throws {
        XCTAssertEqual(BuiltinModel.allCases.map(\.rawValue), BuiltinModelFolder.names)
        let root = NSTemporaryDirectory() + "builtin-folder-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: root) }
        XCTAssertEqual(try BuiltinModel.tiny.materialize(cacheRoot: root), BuiltinModelFolder.path(name: "tiny", cacheRoot: root))
        XCTAssertTrue(FileManager.default.fileExists(atPath: BuiltinModelFolder.path(name: "tiny", cacheRoot: root) + "/tokenizer.json"))
    }
}
