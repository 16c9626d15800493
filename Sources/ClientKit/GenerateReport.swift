import Basics
import Foundation

/// What `pd-client generate` prints: one JSON object (`tokens` for one request or `results` for
/// several, plus the aggregate stats and, with --verify, `verified`) or a human-readable text.
public enum GenerateReport {
    struct Row: Encodable {
        let request_id: String, prompt_tokens: Int, cached_prompt_tokens: Int, tokens: [Int], finish_reason: String
        /// vLLM's stop_reason: the stop token id or stop string behind "stop"; absent for EOS.
        let stop_reason: StopReason?
        let ttft_ms: Double, tpot_ms: Double?, e2e_ms: Double, kv_bytes: UInt64, kv_transfer_seconds: Double, kv_transfer_gbps: Double?
        let kv_exposed_ms: Double
        let error: String?
        let text: String?
        /// As pd-run --json reports them: each token's logprob; with --top-logprobs / --prompt-logprobs
        /// the most likely tokens and the prompt's (absent without).
        let logprobs: [Float]
        let top_logprobs: [[TopLogprob]]?
        let prompt_logprobs: [PromptLogprob]?
        struct TopLogprob: Encodable { let token_id: Int; let logprob: Float }
        struct PromptLogprob: Encodable { let logprob: Float; let rank: Int; let top_logprobs: [TopLogprob] }
        init(_ r: GenerationRecord) {
            request_id = r.requestID; prompt_tokens = r.promptTokens; cached_prompt_tokens = r.cachedPromptTokens; tokens = r.tokens; finish_reason = r.finishReason
            stop_reason = r.stopReason
            ttft_ms = r.ttft * 1000; tpot_ms = r.tpot.map { $0 * 1000 }; e2e_ms = r.endToEnd * 1000
            kv_bytes = r.kvBytes; kv_transfer_seconds = r.kvTransferSeconds
            kv_transfer_gbps = r.kvTransferSeconds > 0 ? Double(r.kvBytes) / r.kvTransferSeconds / 1e9 : nil
            kv_exposed_ms = r.kvExposedSeconds * 1000
            error = r.error
            text = r.text
            logprobs = r.logprobs
            let top = r.topLogprobs.map { $0.map { TopLogprob(token_id: Int($0.tokenId), logprob: $0.logprob) } }
            top_logprobs = top.allSatisfy(\.isEmpty) ? nil : top
            prompt_logprobs = r.promptLogprobs.isEmpty ? nil : r.promptLogprobs.map {
                PromptLogprob(logprob: $0.logprob, rank: Int($0.rank), top_logprobs: $0.topLogprobs.map { TopLogprob(token_id: Int($0.tokenId), logprob: $0.logprob) })
            }
        }
    }
    struct Single: Encodable { let tokens: [Int]; let result: Row; let stats: LoadSummary; let verified: Bool? }
    struct Many: Encodable { let results: [Row]; let stats: LoadSummary; let verified: Bool? }

    /// `verified`: nil without --verify.
    public static func json(records: [GenerationRecord], summary: LoadSummary, verified: Bool?) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = records.count == 1
            ? try encoder.encode(Single(tokens: records[0].tokens, result: Row(records[0]), stats: summary, verified: verified))
            : try encoder.encode(Many(results: records.map(Row.init), stats: summary, verified: verified))
        return String(decoding: data, as: UTF8.self)
    }

    /// Lines: per request its timings and tokens, then the aggregate percentiles.
    public static func text(records: [GenerationRecord], summary: LoadSummary, verified: Bool?) -> String {
        var lines: [String] = []
        func f(_ v: Double?) -> String { v.map { String(format: "%.1f", $0) } ?? "-" }
        for r in records {
            let status = r.error.map { "FAILED: \($0)" } ?? r.finishReason + (r.stopReason.map { " on the \($0)" } ?? "")
            let gbps = r.kvTransferSeconds > 0 ? String(format: "%.2f GB/s", Double(r.kvBytes) / r.kvTransferSeconds / 1e9) : "-"
            lines.append("\(r.requestID.isEmpty ? "-" : r.requestID): prompt \(r.promptTokens) → \(r.tokens.count) tokens (\(status)) "
                + "ttft \(f(r.ttft * 1000)) ms, tpot \(f(r.tpot.map { $0 * 1000 })) ms, e2e \(f(r.endToEnd * 1000)) ms, "
                + "kv \(r.kvBytes) B sent at \(gbps), \(f(r.kvExposedSeconds * 1000)) ms exposed")
            lines.append("  tokens: \(r.tokens.map(String.init).joined(separator: ","))")
            if let text = r.text { lines.append("  text: \(text.debugDescription)") }
        }
        func p(_ name: String, _ x: Percentiles?) {
            guard let x else { return }
            lines.append(String(format: "%@ p50 %.1f  p90 %.1f  p99 %.1f  (ms)", name, x.p50, x.p90, x.p99))
        }
        lines.append("\(summary.requests) requests, \(summary.failed) failed, \(summary.output_tokens) tokens in "
            + String(format: "%.2f s (%.1f tok/s)", summary.wall_seconds, summary.output_tokens_per_second))
        p("TTFT", summary.ttft_ms); p("TPOT", summary.tpot_ms); p("ITL ", summary.itl_ms); p("E2E ", summary.e2e_ms)
        if let g = summary.kv_transfer_gbps {
            lines.append(String(format: "KV %llu bytes total, sent at p50 %.2f GB/s", summary.kv_bytes_total, g.p50))
        }
        if let e = summary.kv_exposed_share_of_ttft {
            lines.append(String(format: "KV shipping exposed (not overlapped with compute): p50 %.1f%%, p90 %.1f%% of TTFT", e.p50 * 100, e.p90 * 100))
        }
        if let verified { lines.append(verified ? "verify: every sequence equals the reference" : "verify: MISMATCH") }
        return lines.joined(separator: "\n")
    }
}
