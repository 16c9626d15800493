import DeepSeekModel
import Foundation
import XCTest

/// `eos_token_id` as HF writes it: an int or a list in config.json, replaced by generation_config.json's.
final class EOSConfigTests: XCTestCase {
    var dir: String!

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "latentserve-eos-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    /// Writes tiny's config.json with `eos` as its eos_token_id (nil: the key absent), and
    /// generation_config.json when `generation` is given.
    func load(eos: Any?, generation: [String: Any]? = nil) throws -> DeepSeekConfig {
        var config = BuiltinModel.tiny.config
        config["eos_token_id"] = eos
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: dir + "/config.json"))
        if let generation {
            try JSONSerialization.data(withJSONObject: generation).write(to: URL(fileURLWithPath: dir + "/generation_config.json"))
        }
        return try DeepSeekConfig.load(directory: dir)
    }

    func testEOSAsInt() throws {
        XCTAssertEqual(try load(eos: 1).eosTokenIDs, [1])
    }

    func testEOSAsList() throws {
        XCTAssertEqual(try load(eos: [1, 7, 300]).eosTokenIDs, [1, 7, 300])
    }

    func testNoEOS() throws {
        XCTAssertEqual(try load(eos: nil).eosTokenIDs, [])
        XCTAssertEqual(try load(eos: NSNull()).eosTokenIDs, [])
    }

    func testGenerationConfigOverridesConfig() throws {
        XCTAssertEqual(try load(eos: 1, generation: ["eos_token_id": [2, 9], "do_sample": true]).eosTokenIDs, [2, 9])
        XCTAssertEqual(try load(eos: [1, 3], generation: ["eos_token_id": 5]).eosTokenIDs, [5])
    }

    func testGenerationConfigWithoutEOSKeepsConfigs() throws {
        XCTAssertEqual(try load(eos: [1, 3], generation: ["bos_token_id": 0]).eosTokenIDs, [1, 3])
    }

    func testMalformedEOSNamesTheFile() throws {
        XCTAssertThrowsError(try load(eos: "one")) { XCTAssertTrue("\($0)".contains("config.json") && "\($0)".contains("eos_token_id"), "\($0)") }
        XCTAssertThrowsError(try load(eos: 1, generation: ["eos_token_id": ["x"]])) {
            XCTAssertTrue("\($0)".contains("generation_config.json"), "\($0)")
        }
    }

    /// One id encodes back as an int (the fingerprint of existing folders does not change), several as a list.
    func testEncodesAsWritten() throws {
        let encoder = JSONEncoder()
        XCTAssertEqual(String(decoding: try encoder.encode(TokenIDList([4])), as: UTF8.self), "4")
        XCTAssertEqual(String(decoding: try encoder.encode(TokenIDList([4, 5])), as: UTF8.self), "[4,5]")
    }
}
