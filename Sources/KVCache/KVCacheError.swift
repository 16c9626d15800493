/// Errors of the paged latent KV cache; each description is one line naming what was wrong,
/// what was expected and what was found.
public enum KVCacheError: Error, CustomStringConvertible, Equatable {
    /// The free pages cannot hold `requestedTokens`; nothing was allocated.
    case outOfPages(requestedTokens: Int, neededPages: Int, freePages: Int)
    /// The id is not a live sequence (never allocated, or already released).
    case unknownSequence(Int)
    /// A position (or a length) lies outside 0..<capacity (0...capacity for lengths).
    case positionOutOfRange(sequence: Int, position: Int, capacity: Int)
    /// The cache shape given to `init` cannot be built.
    case invalidConfiguration(String)
    /// A layer index outside 0..<layers.
    case layerOutOfRange(layer: Int, layers: Int)
    /// A capacity or row count that is not allowed (e.g. capacity < 1, count < 0).
    case invalidArgument(String)
    /// An access that needs one element type on a cache holding the other.
    case dtypeMismatch(expected: LatentDType, cache: LatentDType)
    /// A write into the pages a sequence shares with a prefix index (positions 0..<sharedTokens).
    case sharedRows(sequence: Int, position: Int, sharedTokens: Int)

    public var description: String {
        switch self {
        case let .outOfPages(tokens, needed, free):
            return "KV cache full: need \(needed) pages for \(tokens) tokens, \(free) free"
        case let .unknownSequence(id):
            return "KV cache: unknown sequence \(id) (never allocated or already released)"
        case let .positionOutOfRange(sequence, position, capacity):
            return "KV cache: position \(position) of sequence \(sequence) is outside its capacity of \(capacity) tokens"
        case let .invalidConfiguration(reason):
            return "KV cache: invalid configuration: \(reason)"
        case let .layerOutOfRange(layer, layers):
            return "KV cache: layer \(layer) is outside 0..<\(layers)"
        case let .invalidArgument(reason):
            return "KV cache: invalid argument: \(reason)"
        case let .dtypeMismatch(expected, cache):
            return "KV cache: this access needs a \(expected) cache, the cache holds \(cache)"
        case let .sharedRows(sequence, position, shared):
            return "KV cache: position \(position) of sequence \(sequence) lies in its \(shared) shared (read-only) prefix tokens"
        }
    }
}
