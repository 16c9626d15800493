import Basics
import DeepSeekModel
import Engine
import StructuredOutput
import Transport
import Wire

/// The services' side of `Admission`: wire fields → the engine's request, and its verdict as
/// INVALID_ARGUMENT naming the field. proto3 cannot tell 0 from unset: top_p 0 and repetition_penalty 0
/// mean off (1), seed 0 without seed_given means "pick one", temperature 0 means greedy.
public enum RequestAdmission {
    /// The engine's SamplingParams for wire fields, unchecked (`admit` checks them).
    public static func params(_ s: Wire.SamplingParams, maxNewTokens: Int) -> Engine.SamplingParams {
        Engine.SamplingParams(temperature: s.temperature, topK: Int(s.topK), topP: s.topP == 0 ? 1 : s.topP,
                              seed: s.seed == 0 && !s.seedGiven ? nil : s.seed, stopTokenIDs: s.stopTokenIds.map { Int($0) },
                              maxNewTokens: maxNewTokens, ignoreEOS: s.ignoreEos,
                              presencePenalty: s.presencePenalty, frequencyPenalty: s.frequencyPenalty,
                              repetitionPenalty: s.repetitionPenalty == 0 ? 1 : s.repetitionPenalty, minTokens: Int(s.minTokens),
                              logitBias: s.logitBias.map { TokenBias(token: Int($0.tokenId), bias: $0.bias) },
                              topLogprobs: Int(s.topLogprobs), promptLogprobs: s.promptLogprobs ? Int(s.promptTopLogprobs) : nil,
                              minP: s.minP, allowedTokenIDs: s.allowedTokenIds.map { Int($0) },
                              badWords: s.badWords.map { $0.map { Int($0) } },
                              choice: s.choice, jsonObject: s.jsonObject, jsonSchema: s.jsonSchema.isEmpty ? nil : s.jsonSchema,
                              regex: s.regex.isEmpty ? nil : s.regex, grammar: s.grammar.isEmpty ? nil : s.grammar,
                              structuredAfter: s.structuredAfter.map { Int($0) }, disableAnyWhitespace: s.disableAnyWhitespace)
    }

    /// The wire fields for the engine's SamplingParams (the inverse of `params`; max_new_tokens travels
    /// beside them). A nil seed is 0 without seed_given ("pick one").
    public static func wire(_ p: Engine.SamplingParams) -> Wire.SamplingParams {
        Wire.SamplingParams(temperature: p.temperature, topK: UInt32(clamping: p.topK), topP: p.topP, minP: p.minP, seed: p.seed ?? 0,
                            stopTokenIds: p.stopTokenIDs.map { UInt32(clamping: $0) }, ignoreEos: p.ignoreEOS,
                            presencePenalty: p.presencePenalty, frequencyPenalty: p.frequencyPenalty,
                            repetitionPenalty: p.repetitionPenalty, minTokens: UInt32(clamping: p.minTokens),
                            logitBias: p.logitBias.map { LogitBias(tokenId: UInt32(clamping: $0.token), bias: $0.bias) },
                            topLogprobs: UInt32(clamping: p.topLogprobs), promptLogprobs: p.promptLogprobs != nil,
                            promptTopLogprobs: UInt32(clamping: p.promptLogprobs ?? 0), seedGiven: p.seed != nil,
                            allowedTokenIds: p.allowedTokenIDs.map { UInt32(clamping: $0) },
                            badWords: p.badWords.map { $0.map { UInt32(clamping: $0) } },
                            choice: p.choice, jsonObject: p.jsonObject,
                            structuredAfter: p.structuredAfter.map { UInt32(clamping: $0) }, jsonSchema: p.jsonSchema ?? "",
                            regex: p.regex ?? "", grammar: p.grammar ?? "", disableAnyWhitespace: p.disableAnyWhitespace)
    }

    /// `Admission.validate` against `model`, and what a structured output samples under (its
    /// sampler's, `Admission.grammar`); an error as INVALID_ARGUMENT "<message>.<field>: <reason>".
    @discardableResult
    public static func admit(prompt: [UInt32], params: Engine.SamplingParams, model: DeepSeekTransformer,
                             message: String) throws -> StructuredGrammar? {
        do {
            try Admission.validate(prompt: prompt, params: params, config: model.config)
            return try Admission.grammar(for: params, model: model)
        } catch let e as AdmissionError {
            throw TransportError.status(.invalidArgument, "\(message).\(e)")
        }
    }
}

extension Wire.FinishReason {
    /// The engine's reason on the wire (one value each; EOS and stop ids are both `stop`).
    public init(_ reason: Engine.FinishReason) {
        switch reason {
        case .length: self = .length
        case .stop: self = .stop
        case .cancelled: self = .cancelled
        case .deadline: self = .deadline
        case .error: self = .error
        }
    }

    /// The stop token id the wire carries with `stop` (nil for EOS). Stop strings are matched where
    /// the text is (gateway, clients), never in the decode daemon, so the engine never ends a served
    /// sequence on one.
    public static func stopTokenId(_ reason: Engine.FinishReason) -> UInt32? {
        switch reason.stopReason {
        case .token(let id)?: return UInt32(id)
        case .text?: preconditionFailure("a served sequence ended on a stop string: the decode daemon has no text")
        case nil: return nil
        }
    }
}

// The engine's logprobs on the wire and back: the one conversion both daemons use.
extension Wire.TokenLogprob {
    public init(_ t: Engine.TokenLogprob) { self.init(tokenId: UInt32(clamping: t.token), logprob: t.logprob) }
}

extension Engine.TokenLogprob {
    public init(_ t: Wire.TokenLogprob) { self.init(token: Int(t.tokenId), logprob: t.logprob) }
}

extension Wire.GeneratedToken {
    public init(_ t: SampledToken) {
        self.init(tokenId: UInt32(clamping: t.token), logprob: t.logprob, topLogprobs: t.topLogprobs.map(Wire.TokenLogprob.init))
    }
}

extension Wire.PromptTokenLogprobs {
    public init(_ p: Engine.PromptTokenLogprobs) {
        self.init(logprob: p.logprob, rank: UInt32(clamping: p.rank), topLogprobs: p.top.map(Wire.TokenLogprob.init))
    }
}
