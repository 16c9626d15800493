/// What ended a generation whose finish reason is `stop`, as vLLM's `stop_reason` reports it: one of
/// the request's stop token ids, or one of its stop strings. The model's own EOS has none (null).
/// Encodes as the bare id or string.
public enum StopReason: Sendable, Equatable, Encodable, CustomStringConvertible {
    case token(Int)
    case text(String)

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .token(let id): try c.encode(id)
        case .text(let s): try c.encode(s)
        }
    }

    public var description: String {
        switch self {
        case .token(let id): return "stop token \(id)"
        case .text(let s): return "stop string \(s.debugDescription)"
        }
    }
}
