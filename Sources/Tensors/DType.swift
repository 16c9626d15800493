/// On-disk (and on-wire) element types we accept; compute is always f32. F8_E4M3 is the OCP
/// `float8_e4m3fn` of DeepSeek-V3-style checkpoints (scaled per 128×128 block by a companion
/// `<name>_scale_inv` tensor, which the model loader applies).
public enum DType: String, Sendable, CaseIterable {
    case f32 = "F32", bf16 = "BF16", f16 = "F16", f8E4M3 = "F8_E4M3"

    /// Bytes per element.
    public var byteSize: Int {
        switch self {
        case .f32: return 4
        case .bf16, .f16: return 2
        case .f8E4M3: return 1
        }
    }

    /// HF's safetensors orders a file's tensors by this rank, largest first (its `Dtype` enum order), then by name.
    var serializationRank: Int {
        switch self {
        case .f16: return 0
        case .bf16: return 1
        case .f32: return 2
        case .f8E4M3: return -1     // after F16 in safetensors' Dtype order
        }
    }

    /// Element sizes of the other safetensors dtypes: lets the reader validate ranges of tensors it cannot load.
    static func elementBytes(ofUnsupported name: String) -> Int? {
        switch name {
        case "BOOL", "U8", "I8", "F8_E5M2", "F8_E8M0": return 1
        case "I16", "U16": return 2
        case "I32", "U32": return 4
        case "I64", "U64", "F64", "C64": return 8
        default: return nil   // sub-byte (F4, F6_*) or unknown: range checked for bounds and overlap only
        }
    }
}
