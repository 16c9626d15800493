import Foundation
import Metrics
import Prometheus

/// The gateway's Prometheus metrics, kept through swift-metrics with swift-prometheus's factory
/// (its own registry, so several gateways can live in one process) and exposed on /metrics.
public final class GatewayMetrics: @unchecked Sendable {
    public let registry: PrometheusCollectorRegistry
    private let factory: PrometheusMetricsFactory
    private let lock = NSLock()
    private var requestCounters: [String: Metrics.Counter] = [:]

    let promptTokens: Metrics.Counter
    let generationTokens: Metrics.Counter
    let timeToFirstToken: Metrics.Timer
    let interTokenLatency: Metrics.Timer
    let endToEnd: Metrics.Timer
    let running: Metrics.Meter
    /// Requests that failed before their first token and were sent to another decode instance.
    let retries: Metrics.Counter

    public init() {
        let registry = PrometheusCollectorRegistry()
        self.registry = registry
        var factory = PrometheusMetricsFactory(registry: registry)
        // Token latencies on this hardware run from sub-millisecond to seconds.
        let fine: [Duration] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]
            .map { .microseconds(Int64($0 * 1_000_000)) }
        factory.durationHistogramBuckets = [
            "latentserve_time_to_first_token_seconds": fine,
            "latentserve_inter_token_latency_seconds": fine,
            "latentserve_e2e_request_latency_seconds": fine + [.seconds(60), .seconds(120), .seconds(300)],
        ]
        self.factory = factory
        promptTokens = Metrics.Counter(label: "latentserve_prompt_tokens_total", factory: factory)
        generationTokens = Metrics.Counter(label: "latentserve_generation_tokens_total", factory: factory)
        timeToFirstToken = Metrics.Timer(label: "latentserve_time_to_first_token_seconds", factory: factory)
        interTokenLatency = Metrics.Timer(label: "latentserve_inter_token_latency_seconds", factory: factory)
        endToEnd = Metrics.Timer(label: "latentserve_e2e_request_latency_seconds", factory: factory)
        running = Metrics.Meter(label: "latentserve_requests_running", factory: factory)
        retries = Metrics.Counter(label: "latentserve_request_retries_total", factory: factory)
        running.set(0)
    }

    /// One finished HTTP generation request: `finishReason` "stop" / "length" / "abort" (client left)
    /// / "error", `status` the HTTP status.
    func request(endpoint: String, finishReason: String, status: Int) {
        let key = "\(endpoint)|\(finishReason)|\(status)"
        let counter = lock.withLock { () -> Metrics.Counter in
            if let existing = requestCounters[key] { return existing }
            let made = Metrics.Counter(label: "latentserve_requests_total",
                               dimensions: [("endpoint", endpoint), ("finish_reason", finishReason), ("status", String(status))],
                               factory: factory)
            requestCounters[key] = made
            return made
        }
        counter.increment()
    }

    /// The Prometheus text exposition.
    public func exposition() -> String { registry.emitToString() }
}
