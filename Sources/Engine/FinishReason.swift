import Basics

/// Why a sequence's generation ended, in OpenAI's / vLLM's terms: `stop` covers the model's EOS, a
/// stop token id of the request and a stop string, told apart by `stopReason` (vLLM's `stop_reason`:
/// nil for EOS). Errors are not reasons with text attached: a failed sequence ends as
/// `GenerationEnd.failed(error)`, whose reason is `.error`.
public enum FinishReason: Sendable, Equatable {
    case length                 // max_new_tokens reached
    case stop(StopReason?)      // EOS (nil), or the request's stop token id / stop string
    case cancelled              // the caller left
    case deadline               // the caller's deadline passed
    case error                  // the engine failed (see GenerationEnd.failed)

    /// An EOS token id of the model was generated (and the request did not ignore EOS).
    public static let eos = FinishReason.stop(nil)

    /// The reason's name: "stop", "length", "cancelled", "deadline" or "error".
    public var name: String {
        switch self {
        case .length: return "length"
        case .stop: return "stop"
        case .cancelled: return "cancelled"
        case .deadline: return "deadline"
        case .error: return "error"
        }
    }

    /// The stop token id or stop string that ended a `.stop`; nil for EOS and every other reason.
    public var stopReason: StopReason? {
        if case .stop(let matched) = self { return matched }
        return nil
    }
}

/// The last word on a sequence: it finished for a reason, or it failed with a typed error — or, from
/// the continuous batcher only, it was preempted: not an end, the batcher gave its pages back to make
/// room for older sequences (vLLM's recompute preemption) and its owner recomputes its KV and joins again.
public enum GenerationEnd: @unchecked Sendable {
    case finished(FinishReason)
    case failed(Error)
    case preempted

    /// The finish reason a client sees; a preempted sequence has none yet (`.error` if it never resumes).
    public var reason: FinishReason {
        switch self {
        case .finished(let reason): return reason
        case .failed, .preempted: return .error
        }
    }
}
