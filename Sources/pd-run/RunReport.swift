import Basics
import ContextParallel
import DeepSeekModel
import Engine
import Foundation

/// What pd-run prints: readable text, or one JSON object with `--json`.
struct RunReport: Encodable {
    let prompt_tokens: [Int32]
    let tokens: [Int]
    let logprobs: [Float]
    /// Per token, the --top-logprobs most likely tokens under the raw logits, most likely first.
    let top_logprobs: [[TopLogprob]]
    struct TopLogprob: Encodable {
        let token_id: Int
        let logprob: Float
    }
    /// With --prompt-logprobs: prompt tokens 1..<n, each given the tokens before it.
    let prompt_logprobs: [PromptLogprob]?
    struct PromptLogprob: Encodable {
        let logprob: Float
        let rank: Int
        let top_logprobs: [TopLogprob]
    }
    /// "stop" (EOS, a stop id or a stop string) or "length".
    let finish_reason: String
    /// vLLM's `stop_reason`: the stop token id or stop string that ended a "stop"; absent for EOS.
    let stop_reason: StopReason?
    let last_logits: [Float]
    let prefill_seconds: Double
    let decode_ms_per_token: Double
    let pcp_ranks: Int
    let prefill_steps: Int
    let latent_allgathers: Int
    let bytes_gathered_per_rank: Int
    let allgather_seconds: Double
    /// Peak resident set of this process (getrusage ru_maxrss), bytes.
    let max_rss_bytes: Int
    /// Bytes of weights resident once all are touched: mapped in their held dtype plus load-time repacks.
    let weight_bytes: Int
    /// Of which allocated at load (conversions, fused f32 copies, transposed W_UK).
    let weight_owned_bytes: Int
    let weights_dtype: String
    /// Where the weights live: mmap (the shared file mapping) or huge-pages (this process's copies).
    let weights_memory: String
    /// How decode's latent cache held the rows: f32 or bf16 (--kv-dtype).
    let kv_dtype: String
    /// The prompt's ids (what HF's tokenizer gives for --prompt / --messages).
    var prompt_ids: [Int] = []
    /// The chat template's rendering, for --messages.
    var prompt_text: String?
    /// The completion decoded (special tokens skipped, cut before a stop string), when the model has a tokenizer.
    var text: String?

    init(output: GenerationOutput, engine: PrefillEngine, ranks: Int, weights: ModelWeights, kvDType: String) {
        prompt_tokens = output.promptTokens
        tokens = output.tokens
        logprobs = output.logprobs
        top_logprobs = output.topLogprobs.map { $0.map { TopLogprob(token_id: $0.token, logprob: $0.logprob) } }
        prompt_logprobs = output.promptLogprobs?.map {
            PromptLogprob(logprob: $0.logprob, rank: $0.rank, top_logprobs: $0.top.map { TopLogprob(token_id: $0.token, logprob: $0.logprob) })
        }
        finish_reason = output.finishReason.name
        stop_reason = output.finishReason.stopReason
        last_logits = output.lastLogits
        prefill_seconds = output.prefillSeconds
        decode_ms_per_token = output.decodeSecondsPerToken * 1000
        pcp_ranks = ranks
        prefill_steps = engine.steps
        latent_allgathers = engine.latentGathers
        bytes_gathered_per_rank = engine.bytesGathered
        allgather_seconds = engine.gatherSeconds
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        max_rss_bytes = Int(usage.ru_maxrss) * 1024
        weight_bytes = weights.weightBytes
        weight_owned_bytes = weights.ownedBytes
        weights_dtype = weights.dtype.rawValue
        weights_memory = weights.residency.rawValue
        kv_dtype = kvDType
    }

    func json() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }

    /// The first and last few ids of a long list.
    static func abbreviated(_ ids: [String]) -> String {
        ids.count <= 24 ? ids.joined(separator: ",") : ids.prefix(12).joined(separator: ",") + ",…," + ids.suffix(4).joined(separator: ",")
    }

    func readable() -> String {
        """
        prompt (\(prompt_tokens.count) tokens): \(Self.abbreviated(prompt_tokens.map(String.init)))
        generated (\(tokens.count), \(finish_reason)\(stop_reason.map { " on the \($0)" } ?? (finish_reason == "stop" ? " on EOS" : ""))): \(tokens.map(String.init).joined(separator: ","))
        prefill: \(String(format: "%.3f", prefill_seconds)) s on \(pcp_ranks) rank(s), \(latent_allgathers) latent all-gathers, \(bytes_gathered_per_rank) bytes gathered per rank
        decode: \(String(format: "%.2f", decode_ms_per_token)) ms/token (\(kv_dtype) KV cache)
        memory: max RSS \(max_rss_bytes / (1 << 20)) MiB, weights \(weight_bytes / (1 << 20)) MiB (\(weights_dtype), \(weights_memory); \(weight_owned_bytes / (1 << 20)) MiB allocated at load)
        """ + (text.map { "\ntext: \($0.debugDescription)" } ?? "")
    }
}
