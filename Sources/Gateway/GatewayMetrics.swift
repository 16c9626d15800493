import Foundation
import Metrics
import MetricsExposition
import Prometheus

/// The gateway's Prometheus metrics, kept through swift-metrics into MetricsExposition's registry
/// (its own, so several gateways can live in one process) and exposed on the gateway's /metrics.
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
        let latencies = ["latentserve_time_to_first_token_seconds", "latentserve_inter_token_latency_seconds",
                         "latentserve_e2e_request_latency_seconds"]
        let endpoint = MetricsEndpoint(latencyTimers: latencies)
        registry = endpoint.registry
        factory = endpoint.factory
        promptTokens = Metrics.Counter(label: "latentserve_prompt_tokens_total", factory: factory)
        generationTokens = Metrics.Counter(label: "latentserve_generation_tokens_total", factory: factory)
        timeToFirstToken = Metrics.Timer(label: latencies[0], factory: factory)
        interTokenLatency = Metrics.Timer(label: latencies[1], factory: factory)
        endToEnd = Metrics.Timer(label: latencies[2], factory: factory)
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
