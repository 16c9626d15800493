/// Why a sequence's generation ended. Errors are not reasons with text attached: a failed sequence
/// ends as `GenerationEnd.failed(error)`, whose reason is `.error`.
public enum FinishReason: String, Sendable, Equatable, CaseIterable {
    case length      // max_new_tokens reached
    case stop        // a stop token id of the request was generated
    case eos         // an EOS token id of the model was generated (and the request did not ignore EOS)
    case cancelled   // the caller left
    case deadline    // the caller's deadline passed
    case error       // the engine failed (see GenerationEnd.failed)
}

/// The last word on a sequence: it finished for a reason, or it failed with a typed error.
public enum GenerationEnd: @unchecked Sendable {
    case finished(FinishReason)
    case failed(Error)

    public var reason: FinishReason {
        switch self {
        case .finished(let reason): return reason
        case .failed: return .error
        }
    }
}
