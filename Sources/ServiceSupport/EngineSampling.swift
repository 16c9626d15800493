import Engine
import Transport
import Wire

/// Wire sampling fields → the engine's SamplingParams, as INVALID_ARGUMENT naming the field when
/// a value is out of range. proto3 cannot tell 0 from unset: top_p 0 means off (1), seed 0 means
/// "pick one", temperature 0 means greedy.
public enum EngineSampling {
    public static func from(_ s: Wire.SamplingParams, maxNewTokens: Int, vocabSize: Int,
                            message: String = "GenerateRequest") throws -> Engine.SamplingParams {
        let params = Engine.SamplingParams(
            temperature: s.temperature, topK: Int(s.topK), topP: s.topP == 0 ? 1 : s.topP,
            seed: s.seed == 0 ? nil : s.seed, stopTokenIDs: s.stopTokenIds.map { Int($0) }, maxNewTokens: maxNewTokens)
        do {
            try params.validate(vocabSize: vocabSize)
        } catch let e as SamplingError {
            throw TransportError.status(.invalidArgument, "\(message): \(e)")
        }
        return params
    }
}
