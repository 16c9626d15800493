import Engine
import Foundation
import Metrics
import MetricsExposition
import Wire

/// pd-decode's Prometheus metrics (`--metrics-listen`): finished requests by finish reason, token
/// and KV-transfer counters, preemptions, speculative decoding's drafts, TTFT / KV transfer / end-to-end histograms; running and
/// waiting requests and KV pages as gauges refreshed at each scrape.
final class DecodeMetrics: @unchecked Sendable {
    let endpoint: MetricsEndpoint
    private let lock = NSLock()
    private var requestCounters: [String: Metrics.Counter] = [:]
    private let promptTokens, generationTokens, kvBytes, preemptions: Metrics.Counter
    private let drafts, draftTokens, acceptedTokens: Metrics.Counter
    private let timeToFirstToken, kvTransfer, endToEnd: Metrics.Timer
    private let running, waiting, pagesUsed, pagesFree: Metrics.Gauge

    init() {
        let names = ["latentserve_decode_time_to_first_token_seconds", "latentserve_kv_transfer_seconds",
                     "latentserve_decode_e2e_request_latency_seconds"]
        endpoint = MetricsEndpoint(latencyTimers: names)
        let f = endpoint.factory
        promptTokens = Metrics.Counter(label: "latentserve_decode_prompt_tokens_total", factory: f)
        generationTokens = Metrics.Counter(label: "latentserve_decode_generation_tokens_total", factory: f)
        kvBytes = Metrics.Counter(label: "latentserve_kv_transfer_bytes_total", factory: f)
        preemptions = Metrics.Counter(label: "latentserve_decode_preemptions_total", factory: f)
        drafts = Metrics.Counter(label: "latentserve_decode_spec_decode_drafts_total", factory: f)
        draftTokens = Metrics.Counter(label: "latentserve_decode_spec_decode_draft_tokens_total", factory: f)
        acceptedTokens = Metrics.Counter(label: "latentserve_decode_spec_decode_accepted_tokens_total", factory: f)
        timeToFirstToken = Metrics.Timer(label: names[0], factory: f)
        kvTransfer = Metrics.Timer(label: names[1], factory: f)
        endToEnd = Metrics.Timer(label: names[2], factory: f)
        running = Metrics.Gauge(label: "latentserve_decode_requests_running", factory: f)
        waiting = Metrics.Gauge(label: "latentserve_decode_requests_waiting", factory: f)
        pagesUsed = Metrics.Gauge(label: "latentserve_kv_pages_used", factory: f)
        pagesFree = Metrics.Gauge(label: "latentserve_kv_pages_free", factory: f)
    }

    /// One finished Generate call.
    func finished(_ s: RequestStats, ttftSeconds: Double?, endToEndSeconds: Double) {
        let reason = s.finishReason.description
        let counter = lock.withLock { () -> Metrics.Counter in
            if let existing = requestCounters[reason] { return existing }
            let made = Metrics.Counter(label: "latentserve_decode_requests_total", dimensions: [("finish_reason", reason)],
                                       factory: endpoint.factory)
            requestCounters[reason] = made
            return made
        }
        counter.increment()
        promptTokens.increment(by: Int(s.promptTokens))
        generationTokens.increment(by: Int(s.generatedTokens))
        kvBytes.increment(by: Int(s.kvBytes))
        if let ttftSeconds { timeToFirstToken.recordSeconds(ttftSeconds) }
        if s.kvBytes > 0 { kvTransfer.recordSeconds(s.kvTransferSeconds) }
        endToEnd.recordSeconds(endToEndSeconds)
    }

    /// A running request gave its pages back to make room (vLLM's `num_preemptions`).
    func preempted() { preemptions.increment() }

    /// A decode step's speculation (vLLM's `spec_decode_num_drafts`, `_num_draft_tokens`, `_num_accepted_tokens`).
    func speculated(_ step: ContinuousBatcher.SpeculationStep) {
        drafts.increment(by: step.sequences)
        draftTokens.increment(by: step.drafted)
        acceptedTokens.increment(by: step.accepted)
    }

    /// Gauges from the daemon's state, just before a scrape: requests past admission, requests
    /// waiting for KV pages (new or preempted), pages.
    func refresh(active: Int, waitingForPages: Int, freePages: Int, totalPages: Int) {
        running.record(active)
        waiting.record(waitingForPages)
        pagesFree.record(freePages)
        pagesUsed.record(totalPages - freePages)
    }
}
