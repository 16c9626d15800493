import Basics
import Foundation
import Transport
import Wire

/// What one Generate call produced, with client-side timings.
public struct GenerationRecord: Sendable {
    public var requestID = ""
    public var promptTokens = 0
    /// Of those, the tokens the prefill took from its prefix cache.
    public var cachedPromptTokens = 0
    public var tokens: [Int] = []
    /// Each token's logprob, and its sampling.top_logprobs most likely tokens (empty lists without).
    public var logprobs: [Float] = []
    public var topLogprobs: [[TokenLogprob]] = []
    /// With sampling.prompt_logprobs: prompt tokens 1..<n.
    public var promptLogprobs: [PromptTokenLogprobs] = []
    /// "stop" (the model's EOS, a stop token id or a stop string), "length", ... as the daemon or the
    /// client (stop strings, cancelling) ended the call.
    public var finishReason = ""
    /// vLLM's stop_reason: the stop token id or stop string behind a "stop"; nil for EOS.
    public var stopReason: StopReason?
    public var ttft = 0.0                    // send → first token received (s)
    public var tokenTimes: [Double] = []     // arrival of each token, seconds after send
    public var endToEnd = 0.0
    public var kvBytes: UInt64 = 0
    public var kvTransferSeconds = 0.0       // prefill's time sending the KV
    public var kvExposedSeconds = 0.0        // KV shipping that added to TTFT
    public var error: String?
    /// The completion's text, when the client decoded the tokens (pd-client --model with a tokenizer).
    public var text: String?

    /// Mean time per output token after the first.
    public var tpot: Double? { tokens.count > 1 ? (tokenTimes.last! - tokenTimes.first!) / Double(tokens.count - 1) : nil }
    public var interTokenLatencies: [Double] { tokenTimes.count > 1 ? (1..<tokenTimes.count).map { tokenTimes[$0] - tokenTimes[$0 - 1] } : [] }
}

/// A small blocking client for the decode daemon's API.
public final class DecodeClient {
    public let channel: TransportChannel

    /// `security`: TLS (the decode daemon's CA, a client certificate under mutual TLS) and the token.
    public init(target: String, security: ClientSecurity = .plaintext) {
        channel = TransportChannel(target: target, security: security)
    }

    /// Streams one Generate call; `onTokens` sees each response's tokens as they arrive.
    /// With `cancelAfterTokens`, the client cancels the call once that many tokens arrived. `stopWhen`
    /// sees each response's tokens; when it answers a stop string (one completed in the client's
    /// text), the call is cancelled and the record ends with finish reason "stop" on that string.
    public func generate(_ request: GenerateRequest, timeoutSeconds: Double = 300, cancelAfterTokens: Int? = nil,
                         onTokens: (([GeneratedToken]) -> Void)? = nil,
                         stopWhen: (([GeneratedToken]) -> String?)? = nil) -> GenerationRecord {
        var record = GenerationRecord()
        record.promptTokens = request.promptTokenIds.count
        let start = monotonicSeconds()
        do {
            let stream = try channel.serverStreaming(method: MethodPath.generate, request: request, deadline: .after(seconds: timeoutSeconds))
            while let bytes = try stream.next() {
                let now = monotonicSeconds() - start
                let response = try bytes.withUnsafeBytes { try GenerateResponse(decoding: $0) }
                record.requestID = response.requestId
                if !response.tokens.isEmpty && record.tokens.isEmpty { record.ttft = now }
                for t in response.tokens {
                    record.tokens.append(Int(t.tokenId)); record.tokenTimes.append(now)
                    record.logprobs.append(t.logprob); record.topLogprobs.append(t.topLogprobs)
                }
                if !response.promptLogprobs.isEmpty { record.promptLogprobs = response.promptLogprobs }
                onTokens?(response.tokens)
                if let usage = response.usage {
                    record.kvBytes = usage.kvBytes
                    record.kvTransferSeconds = usage.kvTransferSeconds
                    record.kvExposedSeconds = usage.kvExposedSeconds
                    record.cachedPromptTokens = Int(usage.cachedPromptTokens)
                }
                if response.finishReason != .unspecified {
                    record.finishReason = response.finishReason.description
                    record.stopReason = response.stopTokenId.map { .token(Int($0)) }
                }
                if let stopWhen, let stopString = stopWhen(response.tokens) {
                    if response.finishReason == .unspecified { stream.cancel() }
                    record.finishReason = "stop"
                    record.stopReason = .text(stopString)
                    break
                }
                if let limit = cancelAfterTokens, record.tokens.count >= limit, response.finishReason == .unspecified {
                    stream.cancel()
                    record.finishReason = "cancelled by client"
                    break
                }
            }
        } catch {
            record.error = String(describing: error)
        }
        record.endToEnd = monotonicSeconds() - start
        return record
    }

    public func stats(timeoutSeconds: Double = 10) throws -> StatsResponse {
        try channel.unary(method: MethodPath.stats, request: StatsRequest(), response: StatsResponse.self, deadline: .after(seconds: timeoutSeconds))
    }
}
