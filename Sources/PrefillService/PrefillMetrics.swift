import Foundation
import Metrics
import MetricsExposition

/// pd-prefill rank 0's Prometheus metrics (`--metrics-listen`): requests by outcome, prompt tokens,
/// queue time and batch compute time histograms; the queue (requests and prompt tokens waiting) and
/// the KV pages as gauges; the prefix cache's queried and hit tokens (vLLM's prefix_cache_queries /
/// prefix_cache_hits) and the pages it holds.
final class PrefillMetrics: @unchecked Sendable {
    let endpoint: MetricsEndpoint
    private let lock = NSLock()
    private var outcomes: [String: Metrics.Counter] = [:]
    private var queuedRequests = 0, queuedTokens = 0, prefixPages = 0
    private let promptTokens, batches, prefixQueries, prefixHits: Metrics.Counter
    private let queueTime, computeTime: Metrics.Timer
    private let queueRequestsGauge, queueTokensGauge, pagesUsed, pagesFree, prefixPagesGauge: Metrics.Gauge

    init() {
        let names = ["latentserve_prefill_queue_time_seconds", "latentserve_prefill_compute_seconds"]
        endpoint = MetricsEndpoint(latencyTimers: names)
        let f = endpoint.factory
        promptTokens = Metrics.Counter(label: "latentserve_prefill_prompt_tokens_total", factory: f)
        batches = Metrics.Counter(label: "latentserve_prefill_batches_total", factory: f)
        queueTime = Metrics.Timer(label: names[0], factory: f)
        computeTime = Metrics.Timer(label: names[1], factory: f)
        queueRequestsGauge = Metrics.Gauge(label: "latentserve_prefill_queue_requests", factory: f)
        queueTokensGauge = Metrics.Gauge(label: "latentserve_prefill_queue_tokens", factory: f)
        pagesUsed = Metrics.Gauge(label: "latentserve_prefill_kv_pages_used", factory: f)
        pagesFree = Metrics.Gauge(label: "latentserve_prefill_kv_pages_free", factory: f)
        prefixQueries = Metrics.Counter(label: "latentserve_prefill_prefix_cache_queries_total", factory: f)
        prefixHits = Metrics.Counter(label: "latentserve_prefill_prefix_cache_hits_total", factory: f)
        prefixPagesGauge = Metrics.Gauge(label: "latentserve_prefill_prefix_cache_pages", factory: f)
    }

    /// A prompt of `tokens` looked up in the prefix cache, `hits` of them found.
    func prefixLookup(tokens: Int, hits: Int) {
        prefixQueries.increment(by: tokens)
        prefixHits.increment(by: hits)
    }

    /// Pages the prefix cache holds now (those only it holds count as free, as vLLM counts them).
    func prefixCache(pages: Int) { lock.withLock { prefixPages = pages } }

    /// A job entered the queue.
    func queued(tokens: Int) { lock.withLock { queuedRequests += 1; queuedTokens += tokens } }

    /// A job left the queue: into a batch after `waited` seconds, or dropped (cancelled).
    func dequeued(tokens: Int, waited: Double?) {
        lock.withLock { queuedRequests -= 1; queuedTokens -= tokens }
        if let waited { queueTime.recordSeconds(waited) } else { outcome("cancelled") }
    }

    /// One computed batch: its compute time and each job's outcome ("done" / "cancelled" / "failed").
    func batch(seconds: Double, promptTokens tokens: Int, outcomes jobOutcomes: [String]) {
        batches.increment()
        computeTime.recordSeconds(seconds)
        promptTokens.increment(by: tokens)
        for o in jobOutcomes { outcome(o) }
    }

    private func outcome(_ name: String) {
        let counter = lock.withLock { () -> Metrics.Counter in
            if let existing = outcomes[name] { return existing }
            let made = Metrics.Counter(label: "latentserve_prefill_requests_total", dimensions: [("outcome", name)], factory: endpoint.factory)
            outcomes[name] = made
            return made
        }
        counter.increment()
    }

    /// Gauges from the daemon's state, just before a scrape.
    func refresh(freePages: Int, totalPages: Int) {
        let (requests, tokens, cached) = lock.withLock { (queuedRequests, queuedTokens, prefixPages) }
        queueRequestsGauge.record(requests)
        queueTokensGauge.record(tokens)
        prefixPagesGauge.record(cached)
        pagesFree.record(freePages)
        pagesUsed.record(totalPages - freePages)
    }
}
