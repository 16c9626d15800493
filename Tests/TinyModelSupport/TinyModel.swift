import DeepSeekModel
import TestSupport

/// The built-in tiny model (3 layers: 1 dense, 2 MoE with 8 experts top-2 + 1 shared, f32), written
/// once per test process into its scratch directory; every test target that needs it takes it here.
public enum TinyModel {
    public static let directory = try! BuiltinModel.tiny.materialize(cacheRoot: ProcessScratchDirectory.path("models"))

    public static func load() throws -> DeepSeekTransformer { try DeepSeekTransformer(directory: directory) }
}
