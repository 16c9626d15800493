import Foundation
import Tensors

/// Identifies a model across processes: FNV-1a 64 over the canonical config (sorted keys) and the
/// tensor table (name, dtype, shape, XXH3-64 of the stored bytes — see WeightDigests), so two
/// fine-tunes of one architecture differ. Two daemons exchange KV only when their fingerprints
/// agree. Weights rounded to bf16 at load compute a different model, so that is part of it too
/// (lossless conversions, e.g. bf16 held as f32, are not). Not a security hash: it guards against configuration mistakes, not adversaries.
public enum ModelFingerprint {
    public static func compute(config: DeepSeekConfig, store: SafetensorsStore?, roundedToBF16: Bool = false) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var text = String(decoding: try encoder.encode(config), as: UTF8.self)
        if let store {
            let digests = WeightDigests.compute(store).digests
            for name in store.tensorNames {
                let info = store.info(name)!
                text += "\n\(name) \(info.dtype.rawValue) \(info.shape) \(String(digests[name]!, radix: 16))"
            }
        }
        if roundedToBF16 { text += "\nweights rounded to bf16 at load" }
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01B3
        }
        return "deepseek-" + String(hash, radix: 16).leftPadded(to: 16)
    }
}

private extension String {
    func leftPadded(to n: Int) -> String { count >= n ? self : String(repeating: "0", count: n - count) + self }
}
