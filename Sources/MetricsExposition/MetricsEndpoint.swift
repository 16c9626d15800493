import Foundation
import Hummingbird
import Logging
import Metrics
import NIOCore
import Prometheus

/// A daemon's Prometheus metrics: a swift-prometheus registry fed through swift-metrics (the
/// `factory`), served as text on `GET /metrics` of its own small HTTP server (`--metrics-listen`).
public final class MetricsEndpoint: @unchecked Sendable {
    public let registry = PrometheusCollectorRegistry()
    public let factory: PrometheusMetricsFactory

    /// `durationBuckets`: histogram buckets by metric name (seconds).
    public init(durationBuckets: [String: [Double]] = [:]) {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.durationHistogramBuckets = durationBuckets.mapValues { $0.map { .microseconds(Int64($0 * 1_000_000)) } }
        self.factory = factory
    }

    /// Every timer named in `latencyTimers` gets `latencyBuckets` (the daemons' and gateway's latencies).
    public convenience init(latencyTimers: [String]) {
        self.init(durationBuckets: Dictionary(uniqueKeysWithValues: latencyTimers.map { ($0, MetricsEndpoint.latencyBuckets) }))
    }

    /// Latency buckets from 0.5 ms to 5 min, for TTFT, transfer and end-to-end times.
    public static let latencyBuckets: [Double] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300]

    /// Serves GET /metrics on host:port in the background for the life of the process;
    /// `beforeScrape` refreshes gauges read from the daemon's state. Returns once listening.
    public func serve(host: String, port: Int, logger: Logger, beforeScrape: @escaping @Sendable () -> Void) throws {
        let router = Router()
        router.get("/metrics") { [registry] _, _ -> Response in
            beforeScrape()
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
            return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: registry.emitToString())))
        }
        let listening = DispatchSemaphore(value: 0)
        let failure = FailureBox()
        var quiet = logger
        quiet.logLevel = .warning
        let app = Application(router: router, configuration: .init(address: .hostname(host, port: port), serverName: "latentserve-metrics"),
                              onServerRunning: { _ in listening.signal() }, logger: quiet)
        Task.detached {
            do { try await app.runService(gracefulShutdownSignals: []) } catch {
                failure.error = error
                listening.signal()
            }
        }
        listening.wait()
        if let error = failure.error { throw MetricsEndpointError.cannotListen("\(host):\(port)", "\(error)") }
        logger.info("metrics on http://\(host):\(port)/metrics")
    }

    private final class FailureBox: @unchecked Sendable { var error: Error? }
}

public enum MetricsEndpointError: Error, CustomStringConvertible {
    case cannotListen(String, String)
    public var description: String {
        switch self {
        case let .cannotListen(address, why): return "--metrics-listen \(address): cannot serve metrics: \(why)"
        }
    }
}

extension Metrics.Timer {
    public func recordSeconds(_ seconds: Double) { recordNanoseconds(Int64(seconds * 1e9)) }
}
