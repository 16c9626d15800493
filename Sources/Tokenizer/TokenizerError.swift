/// Everything that can go wrong loading or running a tokenizer, as one clear line each.
public enum TokenizerError: Error, CustomStringConvertible, Equatable {
    /// The file uses a component (normalizer, pre-tokenizer, model, decoder, post-processor, regex
    /// construct ...) this implementation does not support; refused rather than approximated.
    case unsupported(component: String, detail: String)
    /// The file is not valid JSON or lacks / mistypes a required field.
    case malformed(file: String, detail: String)
    /// A regex pattern could not be parsed.
    case badPattern(pattern: String, detail: String)
    case fileMissing(path: String)

    public var description: String {
        switch self {
        case let .unsupported(component, detail): return "tokenizer: unsupported \(component): \(detail)"
        case let .malformed(file, detail): return "tokenizer: malformed \(file): \(detail)"
        case let .badPattern(pattern, detail):
            return "tokenizer: bad regex \(pattern.debugDescription.prefix(80)): \(detail)"
        case let .fileMissing(path): return "tokenizer: missing file \(path)"
        }
    }
}
