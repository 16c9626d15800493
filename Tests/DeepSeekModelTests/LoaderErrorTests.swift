import DeepSeekModel
import Foundation
import Tensors
import XCTest

/// A broken model folder is one clear error naming what is wrong.
final class LoaderErrorTests: XCTestCase {
    var dir: String!

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "latentserve-broken-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try BuiltinModel.tiny.write(to: dir)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    func message(_ body: () throws -> Void) -> String {
        do { try body(); return "no error" } catch { return String(describing: error) }
    }

    func testMissingConfig() throws {
        try FileManager.default.removeItem(atPath: dir + "/config.json")
        XCTAssertTrue(message { _ = try DeepSeekTransformer(directory: self.dir) }.contains("config.json"))
    }

    func testUnsupportedArchitecture() throws {
        try editConfig { $0["architectures"] = ["LlamaForCausalLM"] }
        XCTAssertTrue(message { _ = try DeepSeekTransformer(directory: self.dir) }.contains("LlamaForCausalLM"))
    }

    func testConfigMissingKey() throws {
        try editConfig { $0.removeValue(forKey: "kv_lora_rank") }
        XCTAssertTrue(message { _ = try DeepSeekTransformer(directory: self.dir) }.contains("kv_lora_rank"))
    }

    func testConfigDisagreeingWithWeightsNamesTheTensor() throws {
        try editConfig { $0["kv_lora_rank"] = 24 }
        let m = message { _ = try DeepSeekTransformer(directory: self.dir) }
        XCTAssertTrue(m.contains("kv_a_proj_with_mqa") && m.contains("expected"), m)
    }

    func testMissingTensorIsNamed() throws {
        let store = try SafetensorsStore(directory: dir)
        var writer = SafetensorsWriter()
        for name in store.tensorNames where name != "model.layers.1.mlp.gate.weight" {
            let t = try store.load(name, shape: store.info(name)!.shape)
            writer.add(name, shape: t.shape, values: t.buffer, as: .f32)
        }
        try writer.write(to: dir + "/model.safetensors")
        XCTAssertTrue(message { _ = try DeepSeekTransformer(directory: self.dir) }.contains("model.layers.1.mlp.gate.weight"))
    }

    func testTruncatedWeights() throws {
        let path = dir + "/model.safetensors"
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        try data.prefix(data.count / 2).write(to: URL(fileURLWithPath: path))
        XCTAssertTrue(message { _ = try DeepSeekTransformer(directory: self.dir) }.contains("truncated"))
    }

    func testPromptErrors() throws {
        let model = try DeepSeekTransformer(directory: dir)
        XCTAssertTrue(message { _ = try model.referencePrefill([[]]) }.contains("empty prompt"))
        XCTAssertTrue(message { _ = try model.referencePrefill([[1, 512]]) }.contains("512"))
    }

    private func editConfig(_ edit: (inout [String: Any]) -> Void) throws {
        let url = URL(fileURLWithPath: dir + "/config.json")
        var json = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        edit(&json)
        try JSONSerialization.data(withJSONObject: json).write(to: url)
    }
}
