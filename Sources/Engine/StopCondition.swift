/// The one rule for when a sequence stops, shared by pd-run's `Generator`, the `ContinuousBatcher`
/// and the decode daemon (which applies it to the first token, sampled by the prefill daemon).
/// Checked after each sampled token, the request's stop ids first, then the model's EOS ids
/// (unless the request ignores EOS), then the caller's stop strings (matched on the streamed text
/// by whoever owns the text, e.g. ModelText.TextStream), then max_new_tokens — vLLM's order.
public struct StopCondition: Sendable, Equatable {
    public let stopTokenIDs: Set<Int>
    /// The model's EOS ids; empty when the request sets `ignoreEOS`.
    public let eosTokenIDs: Set<Int>
    public let maxNewTokens: Int

    /// `eosTokenIDs`: the model's (`DeepSeekConfig.eosTokenIDs`).
    public init(params: SamplingParams, eosTokenIDs: [Int]) {
        stopTokenIDs = Set(params.stopTokenIDs)
        self.eosTokenIDs = params.ignoreEOS ? [] : Set(eosTokenIDs)
        maxNewTokens = params.maxNewTokens
    }

    /// Why the sequence ends after sampling `token`, its `generated`-th token (counting this one),
    /// or nil when it goes on. `textStopped`: this token completed one of the request's stop strings.
    public func finish(after token: Int, generated: Int, textStopped: Bool = false) -> FinishReason? {
        if stopTokenIDs.contains(token) { return .stop }
        if eosTokenIDs.contains(token) { return .eos }
        if textStopped { return .stop }
        if generated >= maxNewTokens { return .length }
        return nil
    }
}
