/// The one rule for when a sequence stops, shared by pd-run's `Generator`, the `ContinuousBatcher`
/// and the decode daemon (which applies it to the first token, sampled by the prefill daemon).
/// Checked after each sampled token in vLLM's order: the model's EOS ids (unless the request ignores
/// EOS), then the request's stop ids, then the caller's stop strings (matched on the streamed text by
/// whoever owns the text, e.g. ModelText.TextStream), then max_new_tokens. All but the last end with
/// `.stop`, telling which stop id or string in vLLM's `stop_reason` (none for EOS).
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
    /// or nil when it goes on. `stopString`: the request's stop string this token completed, if any.
    public func finish(after token: Int, generated: Int, stopString: String? = nil) -> FinishReason? {
        if eosTokenIDs.contains(token) { return .eos }
        if stopTokenIDs.contains(token) { return .stop(.token(token)) }
        if let stopString { return .stop(.text(stopString)) }
        if generated >= maxNewTokens { return .length }
        return nil
    }
}
