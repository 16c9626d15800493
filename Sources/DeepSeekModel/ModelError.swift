/// Everything that can be wrong with a model folder or a forward call, as one clear line.
public enum ModelError: Error, CustomStringConvertible, Equatable {
    case configMissing(path: String)
    case configUnreadable(path: String, reason: String)
    case configInvalid(field: String, reason: String)
    case unsupportedArchitecture(String)
    case unsupported(feature: String)
    case tokenOutOfRange(token: Int, vocabSize: Int)
    case contextTooLong(tokens: Int, maxPositions: Int)
    case emptyPrompt
    case badLayout(String)

    public var description: String {
        switch self {
        case .configMissing(let path): return "model config not found: \(path) (expected an HF config.json)"
        case .configUnreadable(let path, let reason): return "cannot read model config \(path): \(reason)"
        case .configInvalid(let field, let reason): return "invalid model config field '\(field)': \(reason)"
        case .unsupportedArchitecture(let a):
            return "unsupported architecture '\(a)' (expected DeepseekV2ForCausalLM or DeepseekV3ForCausalLM)"
        case .unsupported(let feature): return "unsupported model feature: \(feature)"
        case .tokenOutOfRange(let t, let v): return "token id \(t) out of range: vocab size is \(v)"
        case .contextTooLong(let n, let m): return "sequence of \(n) tokens exceeds max_position_embeddings \(m)"
        case .emptyPrompt: return "empty prompt: at least one token is required"
        case .badLayout(let why): return "invalid prefill layout: \(why)"
        }
    }
}
